import pytest
from django.core.exceptions import ValidationError

from accounts.customers.validators import (
    is_valid_cnpj,
    is_valid_cpf,
    normalize_phone,
    normalize_tax_document,
    tax_document_kind,
    validate_e164,
)


@pytest.mark.parametrize("cpf", ["52998224725", "11144477735"])
def test_valid_cpfs(cpf):
    assert is_valid_cpf(cpf)


@pytest.mark.parametrize("cpf", ["52998224724", "11111111111", "1234567890", "5299822472a"])
def test_invalid_cpfs(cpf):
    assert not is_valid_cpf(cpf)


def test_numeric_and_alphanumeric_cnpj():
    assert is_valid_cnpj("11222333000181")
    # The Receita Federal's own example of the alphanumeric CNPJ (12.ABC.345/01DE-35).
    assert is_valid_cnpj(normalize_tax_document("12.ABC.345/01DE-35"))
    assert not is_valid_cnpj("11222333000182")
    assert not is_valid_cnpj("12ABC34501DE36")


def test_document_kind_and_normalisation():
    assert normalize_tax_document("529.982.247-25") == "52998224725"
    assert tax_document_kind("52998224725") == "cpf"
    assert tax_document_kind("11222333000181") == "cnpj"
    with pytest.raises(ValidationError):
        tax_document_kind("12345678900")


def test_phone_normalised_to_e164():
    assert normalize_phone("(11) 98765-4321") == "+5511987654321"
    assert normalize_phone("+1 650 253 0000") == "+16502530000"
    with pytest.raises(ValidationError):
        normalize_phone("12345")
    validate_e164("+5511987654321")
    with pytest.raises(ValidationError):
        validate_e164("11987654321")
