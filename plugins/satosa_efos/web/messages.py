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
        "unknown_acs": ("Felaktig återadress", "Tjänsten bad om att få svaret till en adress som"
                        " inte finns i dess anslutningsuppgifter. Av säkerhetsskäl skickas inget"
                        " svar dit. Kontakta tjänstens support."),
        "wrong_destination": ("Fel mottagare", "Inloggningsbegäran var ställd till en annan"
                              " adress än den här. Ingen inloggning har gjorts. Gå tillbaka till"
                              " tjänsten och försök igen."),
        "session_expired": ("Inloggningen avbröts", "Inloggningen tog för lång tid eller så"
                            " blockerar webbläsaren kakor. Gå tillbaka till tjänsten och försök"
                            " igen."),
        "internal_error": ("Tekniskt fel", "Något gick fel hos inloggningstjänsten. Försök igen"
                           " om en stund."),
        "outside_scope": ("Inloggningen nekades", "Din organisations inloggning intygade en"
                          " användare som inte hör till organisationen. Logga in via den"
                          " organisation du är anställd i."),
        "wrong_idp": ("Inloggningen nekades", "Svaret kom från en annan inloggningstjänst än den"
                      " du skickades till. Börja om från tjänsten du ville använda."),
        "organisation_not_allowed": ("Organisationen har inte tillgång", "Tjänsten tar inte emot"
                                     " inloggningar från den organisation som angavs."),
        "no_login_method": ("Inloggning saknas", "Organisationen har ännu inget inloggningssätt"
                            " som inloggningstjänsten erbjuder. Kontakta din IT-avdelning."),
        "no_passive": ("Inloggning krävs", "Tjänsten bad om inloggning utan att visa någon sida,"
                       " men du behöver välja organisation och logga in."),
        "no_idp_chosen": ("Ingen organisation vald", "Inloggningen kunde inte skickas vidare"
                          " eftersom ingen organisation valdes. Börja om."),
        "idp_unavailable": ("Organisationens inloggning är inte tillgänglig just nu",
                            "Inloggningstjänsten saknar giltiga uppgifter om organisationens"
                            " inloggning. Försök igen senare eller kontakta din IT-support."),
        "efos_unavailable": ("Mobilt Efos är inte tillgängligt just nu", "Inloggningstjänsten"
                             " får inget svar från Mobilt Efos. Försök igen om en stund."),
        "efos_refused": ("Inloggningen med Mobilt Efos avbröts", "Inloggningen kunde inte"
                         " slutföras. Börja om från tjänsten du ville använda."),
        "efos_certificate": ("Inloggningen nekades", "Din e-legitimation godtas inte (den kan"
                             " vara spärrad, för gammal eller utfärdad av fel utfärdare)."
                             " Kontakta din IT-support."),
        "hsa_unavailable": ("HSA-katalogen svarar inte just nu", "Inloggningstjänsten kan inte"
                            " hämta dina uppgifter från HSA-katalogen. Försök igen om en stund."),
        "hsa_not_found": ("Du finns inte i HSA-katalogen", "Tjänsten kräver att du finns i"
                          " HSA-katalogen. Kontakta din HSA-administratör."),
        "hsa_no_commission": ("Medarbetaruppdrag saknas", "Du har inget medarbetaruppdrag som"
                              " ger tillgång till tjänsten. Kontakta din HSA-administratör."),
        "weaker_loa": ("Inloggningen nekades", "Inloggningen gjordes med en lägre"
                       " tillitsnivå än tjänsten kräver."),
        "efos_replay": ("Inloggningen är redan använd", "Den här inloggningen har redan"
                        " använts. Börja om från tjänsten du ville använda."),
        "invalid_redirect_uri": ("Felaktig återadress", "Tjänsten bad om att få svaret till en"
                                 " adress som inte är registrerad för den. Av säkerhetsskäl"
                                 " skickas du inte dit. Kontakta tjänstens support."),
        "bad_oidc_request": ("Felaktig inloggningsbegäran", "Begäran från tjänsten saknar"
                             " uppgifter som behövs (client_id eller redirect_uri)."),
        "bad_logout_message": ("Felaktig utloggningsbegäran", "Utloggningsbegäran från tjänsten"
                               " kunde inte tolkas eller var inte korrekt signerad. Ingenting har"
                               " loggats ut. Stäng webbläsaren för att logga ut."),
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
        "unknown_acs": ("Wrong return address", "The service asked for the answer to go to an"
                        " address that is not in its registration. For your safety no answer is"
                        " sent there. Contact the service's support."),
        "wrong_destination": ("Wrong recipient", "The login request was addressed to another"
                              " address than this one. No login took place. Go back to the"
                              " service and try again."),
        "session_expired": ("The login was interrupted", "The login took too long or your"
                            " browser blocks cookies. Go back to the service and try again."),
        "internal_error": ("Technical error", "Something went wrong at the login service."
                           " Please try again in a while."),
        "outside_scope": ("Login refused", "Your organisation's login asserted a user who does"
                          " not belong to that organisation. Log in through the organisation"
                          " you work for."),
        "wrong_idp": ("Login refused", "The answer came from another login service than the one"
                      " you were sent to. Start again from the service you wanted to use."),
        "organisation_not_allowed": ("Organisation not allowed", "The service does not accept"
                                     " logins from the organisation that was given."),
        "no_login_method": ("No login available", "Your organisation has no login method that"
                            " this login service offers yet. Contact your IT department."),
        "no_passive": ("Login required", "The service asked for a login without showing any"
                       " page, but you need to choose an organisation and log in."),
        "no_idp_chosen": ("No organisation chosen", "The login could not continue because no"
                          " organisation was chosen. Start again."),
        "idp_unavailable": ("Your organisation's login is not available right now",
                            "The login service has no valid details of your organisation's"
                            " login. Try again later or contact your IT support."),
        "efos_unavailable": ("Mobilt Efos is not available right now", "The login service gets"
                             " no answer from Mobilt Efos. Please try again in a while."),
        "efos_refused": ("The Mobilt Efos login was stopped", "The login could not be"
                         " completed. Start again from the service you wanted to use."),
        "efos_certificate": ("Login refused", "Your e-ID is not accepted (it may be revoked,"
                             " too old or issued by the wrong issuer). Contact your IT support."),
        "hsa_unavailable": ("The HSA directory is not answering right now", "The login service"
                            " cannot fetch your details from the HSA directory. Please try"
                            " again in a while."),
        "hsa_not_found": ("You are not in the HSA directory", "The service requires you to be"
                          " in the HSA directory. Contact your HSA administrator."),
        "hsa_no_commission": ("No commission", "You have no commission that gives access to the"
                              " service. Contact your HSA administrator."),
        "weaker_loa": ("Login refused", "The login was made at a lower level of assurance than"
                       " the service requires."),
        "efos_replay": ("This login was already used", "This login has already been used."
                        " Start again from the service you wanted to use."),
        "invalid_redirect_uri": ("Wrong return address", "The service asked for the answer to go"
                                 " to an address that is not registered for it. For your"
                                 " safety you are not sent there. Contact the service's support."),
        "bad_oidc_request": ("Invalid login request", "The request from the service lacks"
                             " details that are needed (client_id or redirect_uri)."),
        "bad_logout_message": ("Invalid logout request", "The logout request from the service"
                               " could not be read or was not correctly signed. Nothing has been"
                               " logged out. Close the browser to log out."),
    },
}  # fmt: skip


def message(lang: str, code: str) -> tuple[str, str]:
    texts = MESSAGES[lang]
    return texts.get(code, texts["internal_error"])
