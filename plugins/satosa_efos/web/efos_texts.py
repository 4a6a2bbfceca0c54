"""What the Mobilt Efos page says for each state of an order (docs/efos-rp-api.md hint codes).

Modelled on the user messages BankID recommends to relying parties: short, tell the user what to
do next. Swedish first; English for the `lang=en` page.
"""

from __future__ import annotations

HINTS: dict[str, dict[str, str]] = {
    "outstandingTransaction": {
        "sv": "Starta Efos-appen på din mobil och skanna QR-koden.",
        "en": "Start the Efos app on your phone and scan the QR code.",
    },
    "noClient": {
        "sv": "Starta Efos-appen.",
        "en": "Start the Efos app.",
    },
    "started": {
        "sv": "Efos-appen har hittat inloggningen. Följ instruktionerna i appen.",
        "en": "The Efos app has found the login. Follow the instructions in the app.",
    },
    "userSign": {
        "sv": "Skriv in din säkerhetskod i Efos-appen.",
        "en": "Enter your security code in the Efos app.",
    },
    "expiredTransaction": {
        "sv": "Inloggningen tog för lång tid och har avbrutits. Försök igen.",
        "en": "The login took too long and was stopped. Please try again.",
    },
    "certificateErr": {
        "sv": "Din e-legitimation är spärrad eller för gammal. Kontakta din IT-support.",
        "en": "Your e-ID is blocked or too old. Contact your IT support.",
    },
    "userCancel": {
        "sv": "Inloggningen avbröts i Efos-appen.",
        "en": "The login was cancelled in the Efos app.",
    },
    "cancelled": {
        "sv": "Inloggningen avbröts.",
        "en": "The login was cancelled.",
    },
    "startFailed": {
        "sv": "Efos-appen kunde inte startas eller hittade ingen inloggning. Försök igen.",
        "en": "The Efos app could not be started or found no login. Please try again.",
    },
    "complete": {
        "sv": "Klart! Du loggas in …",
        "en": "Done! Logging you in …",
    },
}
GENERIC = {
    "pending": {"sv": "Väntar på Efos-appen …", "en": "Waiting for the Efos app …"},
    "failed": {
        "sv": "Inloggningen misslyckades. Försök igen.",
        "en": "The login failed. Please try again.",
    },
}


def hint_message(status: str, hint_code: str | None, lang: str) -> str:
    """The text for a collect answer; an unknown hint code gets its status's generic text."""
    lang = "en" if lang == "en" else "sv"
    if status == "complete":
        return HINTS["complete"][lang]
    texts = HINTS.get(hint_code or "") or GENERIC.get(status, GENERIC["failed"])
    return texts[lang]
