"""The animated QR code (docs/efos-rp-api.md, *The animated QR code*)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from satosa_efos.efos.qr import qr_data, qr_svg

TOKEN = "67df3917-fa0d-44e5-b327-edcc928297f8"
SECRET = "d28db9a7-4cde-438e-a2ae-a1f8cd3f5b19"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, f"efos.{TOKEN}.0.71b647e76cee97382c535e6a4ccc80fa790c63e1dde949a4430abb31a31eedea"),
        (1, f"efos.{TOKEN}.1.004b39501ef43327f7a57a34c4ca1b0281f475f51ef2b52b9e7cd1a92dc71ebd"),
        (2, f"efos.{TOKEN}.2.564f88b30e56508d516a6a2f2a7225528d12415dbcc73ec1eb98dba2202773fa"),
    ],
)
def test_qr_data_matches_worked_example(seconds: int, expected: str) -> None:
    assert qr_data(TOKEN, SECRET, seconds) == expected


def test_qr_data_depends_on_the_secret() -> None:
    assert qr_data(TOKEN, SECRET, 5) != qr_data(TOKEN, SECRET.replace("d", "e"), 5)


def test_qr_data_refuses_negative_time() -> None:
    with pytest.raises(ValueError):
        qr_data(TOKEN, SECRET, -1)


def test_svg_embeds_in_html_with_a_title() -> None:
    svg = qr_svg(qr_data(TOKEN, SECRET, 0), title="QR-kod för Mobilt Efos")
    assert svg.startswith("<svg ")
    assert "<?xml" not in svg
    assert "<title>QR-kod för Mobilt Efos</title>" in svg
    assert 'role="img"' in svg


def test_svg_scales_by_viewbox_and_has_quiet_zone() -> None:
    root = ET.fromstring(qr_svg(qr_data(TOKEN, SECRET, 0), title="QR"))
    assert "width" not in root.attrib and "height" not in root.attrib
    _, _, width, height = root.attrib["viewBox"].split()
    assert width == height
    paths = [p.attrib["d"] for p in root.iter(f"{SVG_NS}path") if "stroke" in p.attrib]
    first_dark = re.match(r"M(\d+) (\d+)\.5h", paths[-1])
    assert first_dark is not None and first_dark.groups() == ("4", "4")  # 4-module quiet zone


def test_svg_escapes_the_title() -> None:
    root = ET.fromstring(qr_svg("efos.x.0.y", title='<script>"&</script>'))
    assert root.find(f"{SVG_NS}title").text == '<script>"&</script>'


def test_svg_changes_with_the_data() -> None:
    first, second = (qr_svg(qr_data(TOKEN, SECRET, t), title="QR") for t in (0, 1))
    assert first != second
