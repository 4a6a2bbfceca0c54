"""The commission choice page (medarbetaruppdrag): one button per commission, described."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from satosa_efos.hsa.model import Commission, Right
from satosa_efos.web.commission import TEXTS, render_commission_choice

ACTION = "/hsa/commission"


def commission(n: int, name: str, *, rights: tuple[Right, ...] | None = None) -> Commission:
    return Commission(
        hsa_id=f"SE2321000131-C0000000000{n}",
        name=name,
        purpose="Vård och behandling",
        rights=(Right("Läsa", "alla", "SJF"),) if rights is None else rights,
        health_care_unit_hsa_id=f"SE2321000131-E0000000000{n}",
        health_care_unit_name=f"Vårdcentralen {n}",
        health_care_provider_hsa_id="SE2321000131-F00000000001",
        health_care_provider_name="Västra Götalandsregionen",
    )


@pytest.fixture
def three() -> list[Commission]:
    return [
        commission(3, "Läkare, Akutmottagningen"),
        commission(1, "Sjuksköterska, Vårdcentralen Lerum"),
        commission(
            2,
            "Administratör",
            rights=(Right("Läsa", "alla", "SJF"), Right("Skriva", "Journal", "VG")),
        ),
    ]


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def text(element) -> str:
    return " ".join(element.get_text().split())


def buttons(page: BeautifulSoup):
    return page.select('button[name="commission"]')


def test_one_button_per_commission_in_order(three):
    page = soup(render_commission_choice(commissions=three, action=ACTION))
    found = buttons(page)
    assert [b["value"] for b in found] == [c.hsa_id for c in three]
    assert [text(b) for b in found] == [c.name for c in three]
    forms = {id(b.find_parent("form")) for b in found}
    assert len(forms) == 1
    form = found[0].find_parent("form")
    assert form["method"] == "post" and form["action"] == ACTION
    assert form.find("input", {"type": "hidden", "name": "lang"})["value"] == "sv"
    for button in found:
        assert button["type"] == "submit"
        assert button.find_parent("li").find_parent("ul") is not None


def test_descriptions_are_linked_and_in_the_same_item(three):
    page = soup(render_commission_choice(commissions=three, action=ACTION))
    described = set()
    for button, c in zip(buttons(page), three, strict=True):
        desc_id = button["aria-describedby"]
        assert desc_id not in described
        described.add(desc_id)
        (details,) = page.select(f"#{desc_id}")
        assert details.find_parent("li") is button.find_parent("li")
        description = text(details)
        assert c.purpose in description
        assert c.health_care_unit_name in description
        assert c.health_care_provider_name in description
        for right in c.rights:
            assert str(right) in description
        assert c.name not in description  # the name is the button's accessible name
    assert "Läsa;alla;SJF, Skriva;Journal;VG" in text(page.select(f"#{desc_id}")[0])


def test_swedish_page_heading_lead_and_switch(three):
    html = render_commission_choice(
        commissions=three, action=ACTION, application_name="Journalen", person_name="Anna Berg"
    )
    page = soup(html)
    assert page.html["lang"] == "sv"
    assert text(page.h1) == "Välj medarbetaruppdrag"
    lead = text(page.select_one(".lead"))
    assert "för inloggning till Journalen" in lead
    assert "Anna Berg" in lead
    switch = page.select_one("header a#lang-switch")
    assert switch["href"] == f"{ACTION}?lang=en"
    assert switch["lang"] == "en" and text(switch) == "English"
    assert page.select_one('button[name="commission"]').get("lang") is None


def test_english_page(three):
    page = soup(
        render_commission_choice(
            commissions=three, action=ACTION, lang="en", application_name="Journalen"
        )
    )
    assert page.html["lang"] == "en"
    assert text(page.h1) == "Choose your commission"
    assert "logging in to Journalen" in text(page.select_one(".lead"))
    assert page.select_one("input[name=lang]")["value"] == "en"
    switch = page.select_one("header a#lang-switch")
    assert switch["href"] == f"{ACTION}?lang=sv" and switch["lang"] == "sv"
    # Directory values are Swedish: marked so on the English page.
    assert all(b["lang"] == "sv" for b in buttons(page))
    assert "Care unit" in text(page.select_one(".details"))


def test_unknown_language_falls_back_to_swedish(three):
    page = soup(render_commission_choice(commissions=three, action=ACTION, lang="de"))
    assert page.html["lang"] == "sv"
    assert text(page.h1) == TEXTS["sv"]["title"]


def test_lead_without_application_or_person(three):
    page = soup(render_commission_choice(commissions=three, action=ACTION))
    assert text(page.select_one(".lead")) == TEXTS["sv"]["lead"]


def test_everything_is_escaped():
    evil = commission(1, "<script>alert(1)</script>")
    html = render_commission_choice(
        commissions=[evil],
        action='/x"><script>',
        application_name="<b>App</b>",
        person_name="<img src=x>",
    )
    assert "<script>" not in html
    assert "<b>App" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = soup(html)
    assert page.find("script") is None
    assert text(buttons(page)[0]) == "<script>alert(1)</script>"
    assert page.form["action"] == '/x"><script>'


def test_no_commissions_is_an_error():
    with pytest.raises(ValueError):
        render_commission_choice(commissions=[], action=ACTION)
