"""Texts of the error pages, per error code, in Swedish and English.

A nurse on her phone reads these: say what happened and what to do, never a stack trace.
"""

from __future__ import annotations

MESSAGES: dict[str, dict[str, tuple[str, str]]] = {
    "sv": {
        "not_found": ("Sidan finns inte", "Adressen du besökte finns inte hos inloggningstjänsten."
                      " Gå tillbaka till tjänsten du ville använda och börja om därifrån."),
        "bad_request": ("Felaktig begäran", "Inloggningstjänsten kunde inte förstå begäran."
                        " Gå tillbaka till tjänsten du ville använda och försök igen."),
        "bad_saml_message": ("Felaktigt inloggningsmeddelande",
                             "Meddelandet från tjänsten kunde inte tolkas eller var inte korrekt"
                             " signerat. Ingen inloggning har gjorts."),
        "unknown_application": ("Okänd tjänst", "Tjänsten som skickade dig hit är inte ansluten"
                                " till inloggningstjänsten."),
        "session_expired": ("Inloggningen avbröts", "Inloggningen tog för lång tid eller så"
                            " blockerar webbläsaren kakor. Gå tillbaka till tjänsten och försök"
                            " igen."),
        "internal_error": ("Tekniskt fel", "Något gick fel hos inloggningstjänsten. Försök igen"
                           " om en stund."),
    },
    "en": {
        "not_found": ("Page not found", "The address you visited does not exist at the login"
                      " service. Go back to the service you wanted to use and start again."),
        "bad_request": ("Bad request", "The login service could not understand the request."
                        " Go back to the service you wanted to use and try again."),
        "bad_saml_message": ("Invalid login message", "The message from the service could not be"
                             " read or was not correctly signed. No login took place."),
        "unknown_application": ("Unknown service", "The service that sent you here is not"
                                " connected to the login service."),
        "session_expired": ("The login was interrupted", "The login took too long or your"
                            " browser blocks cookies. Go back to the service and try again."),
        "internal_error": ("Technical error", "Something went wrong at the login service."
                           " Please try again in a while."),
    },
}  # fmt: skip


def message(lang: str, code: str) -> tuple[str, str]:
    texts = MESSAGES[lang]
    return texts.get(code, texts["internal_error"])
