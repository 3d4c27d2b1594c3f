"""Issue 12 item 3: package data per order line, packed into volumes by the documented rule."""

from __future__ import annotations

import pytest

from orders.services import OrderLineInput, order_place
from shipping.carriers.base import Parcel
from shipping.exceptions import InvalidPackage
from shipping.packing import PackingLine, pack
from shipping.workflows import order_parcels
from tests.factories import make_customer


def test_units_stack_flat_in_one_volume() -> None:
    # 2 books of 23 x 16 x 3 cm, 400 g, given in any side order.
    [volume] = pack(
        [PackingLine(2, weight_grams=400, length_mm=30, width_mm=230, height_mm=160)],
        declared_amount=5000,
    )
    assert volume == Parcel(
        weight_grams=800, length_mm=230, width_mm=160, height_mm=60, items=2, declared_amount=5000
    )


def test_missing_data_takes_the_defaults(settings) -> None:
    settings.SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS = 250
    settings.SHIPPING_DEFAULT_ITEM_DIMENSIONS_MM = (200, 150, 40)
    [volume] = pack([PackingLine(1), PackingLine(1, weight_grams=100)])
    assert (volume.weight_grams, volume.length_mm, volume.width_mm, volume.height_mm) == (
        350,
        200,
        150,
        80,
    )


def test_a_new_volume_opens_at_the_weight_limit() -> None:
    volumes = pack(
        [PackingLine(4, weight_grams=12_000, length_mm=300, width_mm=200, height_mm=100)]
    )
    assert [v.weight_grams for v in volumes] == [24_000, 24_000]
    assert [v.items for v in volumes] == [2, 2]


def test_a_new_volume_opens_at_the_side_sum_limit() -> None:
    # 60 x 50 cm boxes 30 cm high: two stacked are 60+50+60 = 170 cm, three would be 200 cm
    # (allowed), four 230 cm (not).
    volumes = pack([PackingLine(4, weight_grams=1000, length_mm=600, width_mm=500, height_mm=300)])
    assert [v.height_mm for v in volumes] == [900, 300]


def test_a_unit_too_big_for_any_volume_travels_alone() -> None:
    volumes = pack(
        [
            PackingLine(1, weight_grams=500, length_mm=100, width_mm=100, height_mm=100),
            PackingLine(1, weight_grams=40_000, length_mm=500, width_mm=400, height_mm=300),
        ]
    )
    assert [(v.weight_grams, v.items) for v in volumes] == [(40_000, 1), (500, 1)]


def test_small_parcels_get_the_minimum_size_and_declared_value_adds_up() -> None:
    volumes = pack(
        [PackingLine(3, weight_grams=10_500, length_mm=50, width_mm=40, height_mm=5)],
        declared_amount=1001,
    )
    assert [(v.length_mm, v.width_mm, v.height_mm) for v in volumes] == [(160, 110, 20)] * 2
    assert sum(v.declared_amount for v in volumes) == 1001
    assert [v.declared_amount for v in volumes] == [668, 333]  # the remainder on the first


def test_no_lines_is_one_default_volume_and_negative_values_are_refused() -> None:
    assert len(pack([])) == 1
    with pytest.raises(InvalidPackage):
        pack([PackingLine(-1)])
    with pytest.raises(InvalidPackage):
        pack([PackingLine(1)], declared_amount=-1)


@pytest.mark.django_db
def test_order_lines_keep_package_data_and_pack_from_it() -> None:
    order = order_place(
        customer=make_customer(),
        currency="BRL",
        lines=[
            OrderLineInput(
                "BOOK", "Book", 2, 4000, weight_grams=400, length_mm=230, width_mm=160, height_mm=30
            ),
            OrderLineInput("MUG", "Mug", 1, 3000),
        ],
    )
    line = order.lines.get(sku="BOOK")
    assert (line.weight_grams, line.length_mm, line.width_mm, line.height_mm) == (
        400,
        230,
        160,
        30,
    )
    assert order.lines.get(sku="MUG").weight_grams is None
    [volume] = order_parcels(order)
    assert volume.items == 3
    assert volume.weight_grams == 400 * 2 + 300
    assert volume.declared_amount == order.total_amount
