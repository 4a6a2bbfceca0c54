"""The commission choice page (medarbetaruppdrag, DOMAIN.md §4), as an HTML string.

Shown when an application needs exactly one commission and the user holds several that fit.
Pure rendering: the HSA micro-service decides *when* the page is shown, which commissions are
offered, and checks what comes back. The page has one form to ``action`` with a hidden ``lang``:

* ``POST commission=<HSA-id>``  -- the commission chosen (one submit button per commission);
* ``GET  ?lang=en`` / ``?lang=sv`` -- the language switch link renders the page again.

The caller must check that the posted HSA-id is one of the commissions it offered.
"""

from __future__ import annotations

from collections.abc import Sequence

from satosa_efos.hsa.model import Commission
from satosa_efos.web.picker import _lang, _url
from satosa_efos.web.render import render

TEXTS: dict[str, dict[str, str]] = {
    "sv": {
        "switch": "English",
        "title": "Välj medarbetaruppdrag",
        "person": "Du har loggat in som {person}.",
        "lead_application": "Du har flera medarbetaruppdrag. Välj det uppdrag du vill använda"
                            " för inloggning till {application}.",
        "lead": "Du har flera medarbetaruppdrag. Välj det uppdrag du vill använda för"
                " inloggningen.",
        "list_label": "Medarbetaruppdrag",
        "purpose": "Syfte",
        "unit": "Vårdenhet",
        "provider": "Vårdgivare",
        "rights": "Behörigheter",
        "no_rights": "inga",
    },
    "en": {
        "switch": "Svenska",
        "title": "Choose your commission",
        "person": "You have logged in as {person}.",
        "lead_application": "You have several commissions. Choose the commission to use for"
                            " logging in to {application}.",
        "lead": "You have several commissions. Choose the commission to use for this login.",
        "list_label": "Commissions",
        "purpose": "Purpose",
        "unit": "Care unit",
        "provider": "Care provider",
        "rights": "Rights",
        "no_rights": "none",
    },
}  # fmt: skip


def render_commission_choice(
    *,
    commissions: Sequence[Commission],
    action: str,
    lang: str = "sv",
    application_name: str | None = None,
    person_name: str | None = None,
) -> str:
    """The commission choice page: one button per commission, in the order given.

    Each button is named by the commission's name and described (``aria-describedby``) by its
    purpose, care unit, care provider and rights (``Läsa;alla;SJF``). Directory values are
    Swedish, so on the English page they carry ``lang="sv"``. Raises ``ValueError`` for an empty
    ``commissions``: a page with nothing to choose would be a dead end.
    """
    if not commissions:
        raise ValueError("render_commission_choice needs at least one commission")
    lang = _lang(lang)
    other = "en" if lang == "sv" else "sv"
    return render(
        "commission.html",
        lang=lang,
        t=TEXTS[lang],
        switch_lang=other,
        switch_url=_url(action, lang=other),
        action=action,
        application_name=application_name,
        person_name=person_name,
        data_lang="sv" if lang != "sv" else None,
        items=[
            {
                "hsa_id": c.hsa_id,
                "name": c.name,
                "purpose": c.purpose,
                "unit": c.health_care_unit_name,
                "provider": c.health_care_provider_name,
                "rights": [str(right) for right in c.rights],
            }
            for c in commissions
        ],
    )
