"""The README's first API order: docs/examples/order.json, sent as the README says, is placed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from orders.models import Order

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "order.json"


@pytest.mark.django_db
def test_the_readme_example_order_is_placed():
    readme = (ROOT / "README.md").read_text()
    assert "-d @docs/examples/order.json" in readme
    assert re.search(r"Idempotency-Key: ", readme)
    _, raw = api_key_create(name="readme", scopes=["orders:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    body = json.loads(EXAMPLE.read_text())

    answer = client.post(
        "/api/v1/orders/", body, format="json", headers={"Idempotency-Key": "readme-order-1"}
    )

    assert answer.status_code == 201, answer.content
    order = Order.objects.get(number=answer.json()["number"])
    assert order.total_amount == 2 * 4990 + 1890 + 2350 - 500
    assert order.customer.tax_document == "52998224725"
