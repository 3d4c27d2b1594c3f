"""integrations/charts.py: well-formed SVG, hostile labels escaped, accessible titles."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from integrations.charts import bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</title><script>alert(2)</script>",
    "a & b ' \" <c>",
]


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # noqa: S314 - our own output, parsed to prove it is well-formed


@pytest.mark.parametrize("chart", [bar_chart, line_chart])
def test_hostile_labels_and_titles_come_out_as_text(chart: object) -> None:
    series = [(label, index + 1) for index, label in enumerate(HOSTILE)]
    markup = chart(series, title=HOSTILE[2], unit="<u>")  # type: ignore[operator]

    root = _parse(markup)  # an unescaped "<" or quote would break the XML
    assert root.tag == f"{SVG}svg"
    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert not tags & {"script", "img", "foreignObject", "c", "u"}
    assert not any(name.startswith("on") for e in root.iter() for name in e.attrib)
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == HOSTILE[2]
    # The labels survive as text, exactly, in the per-mark titles or the description.
    text = "".join(root.itertext())
    for label in HOSTILE:
        assert label in text


def test_bar_chart_is_accessible_and_scaled() -> None:
    markup = bar_chart([("stripe", 10), ("asaas", 5), ("zapi", 0)], title="Backlog")
    root = _parse(markup)
    assert root.get("role") == "img"
    title_id, desc_id = (root.get("aria-labelledby") or "").split()
    assert root.find(f"{SVG}title[@id='{title_id}']") is not None
    desc = root.find(f"{SVG}desc[@id='{desc_id}']")
    assert desc is not None and desc.text == "stripe: 10; asaas: 5; zapi: 0."
    widths = [float(rect.get("width", "")) for rect in root.iter(f"{SVG}rect")]
    assert widths[0] == 2 * widths[1] > 0
    assert widths[2] == 0


def test_an_empty_series_says_so() -> None:
    for chart in (bar_chart, line_chart):
        root = _parse(chart([], title="Nothing"))
        assert "No data" in "".join(root.itertext())


def test_line_chart_draws_one_point_per_value_in_order() -> None:
    root = _parse(line_chart([("≤ 50 ms", 1), ("≤ 100 ms", 3), ("≤ 250 ms", 3)], title="Calls"))
    dots = list(root.iter(f"{SVG}circle"))
    assert [dot.findtext(f"{SVG}title") for dot in dots] == [
        "≤ 50 ms: 1",
        "≤ 100 ms: 3",
        "≤ 250 ms: 3",
    ]
    ys = [float(dot.get("cy", "")) for dot in dots]
    assert ys[0] > ys[1] == ys[2]  # higher values sit higher (smaller y)


def test_non_finite_values_do_not_break_the_chart() -> None:
    root = _parse(bar_chart([("a", float("nan")), ("b", float("inf")), ("c", 2)], title="x"))
    assert len(list(root.iter(f"{SVG}rect"))) == 3
