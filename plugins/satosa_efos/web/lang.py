"""The language of the proxy's pages: Swedish unless the user switched, for the whole login.

Every page has a language link (``?lang=en`` / ``?lang=sv``, or a hidden ``lang`` form field).
The choice is kept in SATOSA's state, so the next page of the same login (organisation picker,
Mobilt Efos page, commission choice page) opens in the language the user chose.
"""

from __future__ import annotations

from collections.abc import Mapping

from satosa_efos.state_keys import PAGE_LANG

LANGUAGES = ("sv", "en")


def page_lang(context, form: Mapping | None = None) -> str:
    """The language asked for in this request (remembered), else the remembered one, else sv."""
    asked = (form if form is not None else (context.request or {})).get("lang")
    state = getattr(context, "state", None)
    if asked in LANGUAGES:
        if state is not None:
            state[PAGE_LANG] = asked
        return asked
    remembered = state.get(PAGE_LANG) if state is not None else None
    return remembered if remembered in LANGUAGES else "sv"
