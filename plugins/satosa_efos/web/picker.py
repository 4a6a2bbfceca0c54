"""The organisation picker page and the login-method page (DOMAIN.md §9), as HTML strings.

Pure rendering: the micro-service that routes users decides *when* these pages are shown and
handles what they send back. Every form goes to ``action`` and carries a hidden ``lang``:

* ``POST email=<address>``            -- route by the domain of the address typed;
* ``GET  q=<text>``                   -- the search without JavaScript: render the picker again
  with ``query=q`` (the language switch is a link of the same kind: ``?lang=en&q=...``);
* ``POST org=<id>[&remember=1]``      -- the organisation chosen in the list;
* ``POST forget=1``                   -- forget the remembered choice;
* ``POST method=<login method>``      -- the method page's answer (``GET ?lang=`` switches
  the language of that page).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from urllib.parse import urlencode

from satosa_efos.config.models import LoginMethod, Organisation
from satosa_efos.web.lang import LANGUAGES
from satosa_efos.web.render import render

#: Why the picker is shown again; ``{value}`` is what the user or the application sent.
NOTICES: dict[str, dict[str, str]] = {
    "sv": {
        "unknown_hint": "Organisationen «{value}» finns inte. Välj din organisation i listan.",
        "unknown_idp": "Inloggningstjänsten «{value}» är inte ansluten hit. Välj din organisation"
                       " i listan.",
        "unknown_domain": "Ingen organisation använder domänen «{value}». Kontrollera adressen"
                          " eller välj din organisation i listan.",
        "not_allowed": "«{value}» kan inte logga in till den här tjänsten. Hör du till en annan"
                       " organisation, välj den i listan.",
        "not_an_email": "«{value}» är inte en e-postadress. Skriv hela adressen, med @ och"
                        " domän, eller välj din organisation i listan.",
        "other": "Välj din organisation i listan.",
    },
    "en": {
        "unknown_hint": "The organisation «{value}» does not exist. Choose your organisation from"
                        " the list.",
        "unknown_idp": "The login service «{value}» is not connected here. Choose your"
                       " organisation from the list.",
        "unknown_domain": "No organisation uses the domain «{value}». Check the address or"
                          " choose your organisation from the list.",
        "not_allowed": "«{value}» cannot log in to this service. If you belong to another"
                       " organisation, choose it from the list.",
        "not_an_email": "«{value}» is not an e-mail address. Type the whole address, with @ and"
                        " domain, or choose your organisation from the list.",
        "other": "Choose your organisation from the list.",
    },
}  # fmt: skip

METHOD_LABELS: dict[str, dict[LoginMethod, str]] = {
    "sv": {
        LoginMethod.OWN_IDP: "Med din organisations inloggning",
        LoginMethod.EFOS_MOBILE: "Med Mobilt Efos",
        LoginMethod.INERA_IDP: "Med SITHS eID (Inera)",
    },
    "en": {
        LoginMethod.OWN_IDP: "With your organisation's login",
        LoginMethod.EFOS_MOBILE: "With Mobilt Efos",
        LoginMethod.INERA_IDP: "With SITHS eID (Inera)",
    },
}

TEXTS: dict[str, dict[str, str]] = {
    "sv": {
        "switch": "English",
        "picker_title": "Välj organisation",
        "application": "Du loggar in till {name}.",
        "email_heading": "Med din e-postadress",
        "email_label": "E-postadress",
        "email_hint": "Vi hittar din organisation med hjälp av adressen, till exempel"
                      " namn@vgregion.se. Adressen sparas inte.",
        "continue": "Fortsätt",
        "list_heading": "Eller välj i listan",
        "search_label": "Sök organisation",
        "search_hint": "Namn eller domän, till exempel Borås eller boras.se.",
        "search": "Sök",
        "show_all": "Visa alla organisationer ({n})",
        "count_one": "1 organisation",
        "count_many": "{n} organisationer",
        "count_none": "Ingen organisation matchar sökningen.",
        "remembered": "Du har valt {name} tidigare.",
        "forget": "Glöm mitt val",
        "remember": "Kom ihåg mitt val",
        "remember_hint": "Nästa gång kommer du direkt till din organisation, i den här"
                         " webbläsaren.",
        "list_label": "Organisationer",
        "method_title": "Välj inloggningssätt",
        "method_heading": "Hur vill du logga in till {name}?",
    },
    "en": {
        "switch": "Svenska",
        "picker_title": "Choose your organisation",
        "application": "You are logging in to {name}.",
        "email_heading": "With your e-mail address",
        "email_label": "E-mail address",
        "email_hint": "We find your organisation from the address, for example name@vgregion.se."
                      " The address is not stored.",
        "continue": "Continue",
        "list_heading": "Or choose from the list",
        "search_label": "Search for an organisation",
        "search_hint": "Name or domain, for example Borås or boras.se.",
        "search": "Search",
        "show_all": "Show all organisations ({n})",
        "count_one": "1 organisation",
        "count_many": "{n} organisations",
        "count_none": "No organisation matches your search.",
        "remembered": "You chose {name} before.",
        "forget": "Forget my choice",
        "remember": "Remember my choice",
        "remember_hint": "Next time you go straight to your organisation, in this browser.",
        "list_label": "Organisations",
        "method_title": "Choose how to log in",
        "method_heading": "How do you want to log in to {name}?",
    },
}  # fmt: skip


def fold(text: str) -> str:
    """Case- and diacritic-insensitive form of ``text``: "GÖTEBORG" -> "goteborg"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _terms(query: str) -> list[str]:
    # Each word must match; of an e-mail address only the domain counts ("anna@lerum.se").
    words = (word.rpartition("@")[2] for word in fold(query).split())
    return [word for word in words if word]


def _haystack(organisation: Organisation) -> str:
    fields = [organisation.name, organisation.name_en or "", organisation.id, *organisation.domains]
    return fold("\n".join(fields))


def filter_organisations(choices: Sequence[Organisation], query: str) -> list[Organisation]:
    """The organisations whose name, English name, id or a domain contains every word of
    ``query``, ignoring case and diacritics, in the order given; all of them for an empty query.
    """
    terms = _terms(query)
    return [o for o in choices if all(term in _haystack(o) for term in terms)]


def _lang(lang: str) -> str:
    return lang if lang in LANGUAGES else "sv"


def _url(action: str, **params: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{action}{'&' if '?' in action else '?'}{query}"


def _display_name(organisation: Organisation, lang: str) -> tuple[str, str | None]:
    """The organisation's name in ``lang``, and the language of the name if it differs."""
    if lang == "en" and organisation.name_en:
        return organisation.name_en, None
    return organisation.name, ("sv" if lang != "sv" else None)


def render_picker(
    *,
    choices: Sequence[Organisation],
    action: str,
    lang: str = "sv",
    query: str = "",
    notice: tuple[str, str] | None = None,
    application_name: str | None = None,
    remembered: str | None = None,
    email: str = "",
) -> str:
    """The organisation picker: an e-mail field, a search box and one button per organisation.

    ``choices`` are the organisations the user may pick, in display order; only those matching
    ``query`` are listed. ``notice`` is ``(code, value)`` with code ``unknown_hint``,
    ``unknown_idp``, ``unknown_domain``, ``not_allowed`` or ``not_an_email``; ``value`` is shown
    as given (pass an organisation's name, not its id). ``remembered`` is the id of the
    remembered organisation (its name is shown) or a name.
    """
    lang = _lang(lang)
    texts = TEXTS[lang]
    other = "en" if lang == "sv" else "sv"
    shown = filter_organisations(choices, query)
    by_id = {o.id: o for o in choices}
    remembered_name = None
    if remembered:
        known = by_id.get(remembered)
        remembered_name = _display_name(known, lang)[0] if known else remembered
    notice_text = None
    if notice is not None:
        code, value = notice
        template = NOTICES[lang].get(code, NOTICES[lang]["other"])
        notice_text = template.format(value=value)
    return render(
        "picker.html",
        lang=lang,
        t=texts,
        switch_lang=other,
        switch_url=_url(action, lang=other, q=query.strip()),
        action=action,
        query=query,
        notice_code=notice[0] if notice else None,
        notice_text=notice_text,
        application_name=application_name,
        remembered_name=remembered_name,
        email=email,
        items=[(o.id, *_display_name(o, lang), _haystack(o)) for o in shown],
        total=len(choices),
        count_text=_count(texts, len(shown)),
        show_all_url=_url(action, lang=lang) if len(shown) < len(choices) else None,
    )


def _count(texts: dict[str, str], n: int) -> str:
    if n == 0:
        return texts["count_none"]
    return texts["count_one"] if n == 1 else texts["count_many"].format(n=n)


def render_method_choice(
    *,
    organisation: Organisation,
    methods: Sequence[LoginMethod],
    action: str,
    lang: str = "sv",
    application_name: str | None = None,
) -> str:
    """The login-method page: one button per method the organisation offers."""
    lang = _lang(lang)
    texts = TEXTS[lang]
    other = "en" if lang == "sv" else "sv"
    name, name_lang = _display_name(organisation, lang)
    return render(
        "method.html",
        lang=lang,
        t=texts,
        switch_lang=other,
        switch_url=_url(action, lang=other),
        action=action,
        organisation_name=name,
        organisation_lang=name_lang,
        application_name=application_name,
        methods=[(LoginMethod(m).value, METHOD_LABELS[lang][LoginMethod(m)]) for m in methods],
    )
