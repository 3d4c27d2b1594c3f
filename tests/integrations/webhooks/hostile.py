"""Hypothesis strategies for hostile webhook bodies: deep nesting, numbers past 64 bits,
NaN/Infinity, wrong types, NUL and lone surrogates, absurd dates, invalid UTF-8.

``hostile_body(envelope)`` takes a strategy of a well-formed event (a dict) and yields the raw
bytes of a delivery: sometimes that event with hostile values swapped in at random paths,
sometimes raw text no encoder would write."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

DEEP = "\x00DEEP\x00"  # placeholder a JSON string can never hold once encoded

HOSTILE_NUMBERS = [2**63, -(2**63) - 1, 2**63 - 1, 10**30, 10**4000, 4990.0, 1e19, -0.0, 1e-320]
HOSTILE_TEXTS = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "²",
    "١٢٣",
    "payment:²",
    "payment:99999999999999999999",
    "refund:" + "9" * 5000,
    "1e999999999",
    "NaN",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31 23:59:59",
    "10000-01-01T00:00:00",
    "2026-02-30T00:00:00",
    "<script>alert(1)</script>",
]
HOSTILE_DATES = [
    "9999-12-31T23:59:59-12:00",
    "9999-12-31 23:59:59",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01 00:00:00",
    "1969-12-31T23:59:59+00:00",
    "10000-01-01T00:00:00",
    "2026-02-30T00:00:00",
    "9998-01-01T00:00:00+00:00",
]
RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "1E999999999", "9" * 5000, "-0", "1e-400"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HOSTILE_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(HOSTILE_TEXTS),
    st.just(DEEP),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.text(max_size=6) | st.sampled_from(HOSTILE_TEXTS), children, max_size=3
        )
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _is_time(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-"


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _encode(value: Any, depth: int) -> str:
    text = json.dumps(value, allow_nan=True)
    return text.replace(json.dumps(DEEP), "[" * depth + "]" * depth)


@st.composite
def hostile_body(draw: Any, envelope: Any) -> bytes:
    """Raw bytes of a delivery built from a draw of ``envelope`` (a strategy of dicts)."""
    event = draw(envelope)
    depth = draw(st.sampled_from([10_000, 1, 63, 64, 65, 900]))
    kind = draw(
        st.sampled_from(["deep", "date", "swap", "raw-token", "swap", "whole", "bytes", "cut"])
    )
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "whole":
        return _encode(draw(values), depth).encode("utf-8", "surrogatepass")
    if kind == "deep":
        event = _replace(event, draw(st.sampled_from(_paths(event)[1:])), DEEP)
        depth = draw(st.sampled_from([10_000, 900, 65]))
    elif kind == "date":
        # Any string that reads as a time (the envelope's or the object's) becomes an absurd one.
        dated = [p for p in _paths(event) if _is_time(_get(event, p))] or [()]
        event = _replace(event, draw(st.sampled_from(dated)), draw(st.sampled_from(HOSTILE_DATES)))
    for _ in range(draw(st.integers(0 if kind in ("deep", "date") else 1, 3))):
        path = draw(st.sampled_from(_paths(event)))
        event = _replace(event, path, draw(values))
    text = _encode(event, depth)
    if kind == "raw-token":
        # A number literal replaced by a token no encoder writes (NaN, 1e400, 5000 digits).
        token = draw(st.sampled_from(RAW_TOKENS))
        for candidate in ('"amount": ', '"value": ', '"created": ', '"customer_pk": '):
            if candidate in text:
                start = text.index(candidate) + len(candidate)
                end = start
                while end < len(text) and text[end] in "-+.0123456789eE":
                    end += 1
                if end > start:
                    text = text[:start] + token + text[end:]
                    break
    if kind == "cut":
        text = text[: draw(st.integers(0, max(len(text) - 1, 0)))]
    return text.encode("utf-8", "surrogatepass")
