from __future__ import annotations

import pytest

from accounts.models import Customer, User
from tests.factories import UserFactory, make_customer


@pytest.fixture
def customer(db: None) -> Customer:
    return make_customer(name="Ana Souza", email="ana@example.test", phone="+5511987654321")


@pytest.fixture
def support_user(db: None) -> User:
    return UserFactory(username="support", role="support")


@pytest.fixture
def finance_user(db: None) -> User:
    return UserFactory(username="finance", role="finance")


@pytest.fixture
def other_finance_user(db: None) -> User:
    return UserFactory(username="finance2", role="finance")


@pytest.fixture
def admin_user(db: None) -> User:
    return UserFactory(username="admin", is_superuser=True)
