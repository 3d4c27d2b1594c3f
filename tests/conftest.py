from __future__ import annotations

import pytest

from accounts.models import Customer, User
from tests.factories import make_customer, make_staff


@pytest.fixture
def customer(db: None) -> Customer:
    return make_customer(name="Ana Souza", email="ana@example.test", phone="+5511987654321")


@pytest.fixture
def support_user(db: None) -> User:
    return make_staff("support", role="support")


@pytest.fixture
def finance_user(db: None) -> User:
    return make_staff("finance", role="finance")


@pytest.fixture
def other_finance_user(db: None) -> User:
    return make_staff("finance2", role="finance")


@pytest.fixture
def admin_user(db: None) -> User:
    return make_staff("admin", is_superuser=True)
