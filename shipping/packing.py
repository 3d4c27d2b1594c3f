"""Packing an order's lines into volumes (parcels) for a carrier.

The rule (also in docs/shipping.md):

1. Every unit of every line is a box: its weight and its three sides from the order line
   (grams, millimetres). A missing figure takes ``SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS`` or
   ``SHIPPING_DEFAULT_ITEM_DIMENSIONS_MM`` (length, width, height) instead.
2. Each box is turned to lie flat (sides sorted: length >= width >= height). Units are taken in
   line order, heaviest line first, and stacked in the current volume: the volume's length and
   width are the largest of its boxes', its height the sum of their heights, its weight the sum
   of their weights.
3. A box goes to a new volume when adding it would take the current one past a limit:
   ``SHIPPING_VOLUME_MAX_WEIGHT_GRAMS`` (30 kg), ``SHIPPING_VOLUME_MAX_SIDE_MM`` (1 m) or
   ``SHIPPING_VOLUME_MAX_SIDES_SUM_MM`` (2 m, length + width + height), the Correios limits. A
   box that alone breaks a limit travels alone (the carrier may still refuse it).
4. Every volume is at least ``SHIPPING_VOLUME_MIN_DIMENSIONS_MM`` (16 x 11 x 2 cm, the smallest
   parcel Correios takes) on each side, and weighs at least 1 g.
5. Each volume's declared value is its share of the order's declared value, by units, the
   remainder on the first volume, so the volumes add up to it exactly.

The result is deterministic for the same lines. Carriers convert units at their edge (cm/kg
for Melhor Envio).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings

from shipping.carriers.base import Parcel
from shipping.exceptions import InvalidPackage


@dataclass(frozen=True)
class PackingLine:
    """One order line's units, as packing sees them (figures per unit; None = unknown)."""

    quantity: int
    weight_grams: int | None = None
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None


@dataclass
class _Open:
    weight: int = 0
    length: int = 0
    width: int = 0
    height: int = 0
    units: int = 0

    def with_box(self, box: tuple[int, int, int, int]) -> _Open:
        weight, length, width, height = box
        return _Open(
            self.weight + weight,
            max(self.length, length),
            max(self.width, width),
            self.height + height,
            self.units + 1,
        )

    def fits(self) -> bool:
        sides = (self.length, self.width, self.height)
        return (
            self.weight <= settings.SHIPPING_VOLUME_MAX_WEIGHT_GRAMS
            and max(sides) <= settings.SHIPPING_VOLUME_MAX_SIDE_MM
            and sum(sides) <= settings.SHIPPING_VOLUME_MAX_SIDES_SUM_MM
        )


def _box(line: PackingLine) -> tuple[int, int, int, int]:
    default_l, default_w, default_h = settings.SHIPPING_DEFAULT_ITEM_DIMENSIONS_MM
    weight = line.weight_grams or settings.SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS
    sides = sorted(
        (line.length_mm or default_l, line.width_mm or default_w, line.height_mm or default_h),
        reverse=True,
    )
    return (weight, sides[0], sides[1], sides[2])


def pack(lines: Iterable[PackingLine], *, declared_amount: int = 0) -> list[Parcel]:
    """The volumes for ``lines`` by the module's rule; at least one volume (a default unit when
    there are no lines). Raises InvalidPackage for a negative quantity or declared amount."""
    if declared_amount < 0:
        raise InvalidPackage("A declared amount cannot be negative.")
    boxes: list[tuple[int, int, int, int]] = []
    # Heaviest first; sorted() is stable, so equal lines keep their order.
    ordered: Sequence[PackingLine] = sorted(lines, key=lambda line: -(_box(line)[0]))
    for line in ordered:
        if line.quantity < 0:
            raise InvalidPackage("A quantity cannot be negative.")
        boxes.extend([_box(line)] * line.quantity)
    if not boxes:
        boxes = [_box(PackingLine(quantity=1))]
    volumes: list[_Open] = []
    current = _Open()
    for box in boxes:
        grown = current.with_box(box)
        if current.units and not grown.fits():
            volumes.append(current)
            grown = _Open().with_box(box)
        current = grown
    volumes.append(current)
    min_l, min_w, min_h = settings.SHIPPING_VOLUME_MIN_DIMENSIONS_MM
    total_units = sum(v.units for v in volumes)
    share, remainder = divmod(declared_amount, total_units)
    return [
        Parcel(
            weight_grams=max(1, v.weight),
            length_mm=max(min_l, v.length),
            width_mm=max(min_w, v.width),
            height_mm=max(min_h, v.height),
            items=v.units,
            declared_amount=share * v.units + (remainder if position == 0 else 0),
        )
        for position, v in enumerate(volumes)
    ]


def parcels_or_default(
    parcels: tuple[Parcel, ...], *, items: int, declared_amount: int
) -> tuple[Parcel, ...]:
    """``parcels``, or, when the caller had no package data, ``items`` default units packed."""
    if parcels:
        return parcels
    return tuple(pack([PackingLine(max(items, 1))], declared_amount=declared_amount))
