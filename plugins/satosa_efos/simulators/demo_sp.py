"""A demo application (SAML SP; demo only, not a real service) that logs in through the proxy.

It shows what an application receives: attributes, NameID, AuthnContextClassRef, issuer. Like the
demo IdP it keeps nothing in worker memory: the outstanding request id and the last login live in
HMAC-signed cookies (the key is derived from the SP's private key file), so several gunicorn
workers or a restart lose nothing. pysaml2 remembers request ids only in memory and would accept
an unsolicited response unless told otherwise, so the ACS passes ``outstanding`` from the cookie
and ``allow_unsolicited`` is off; it also checks ``Destination`` itself, which pysaml2 only logs.
An accepted response is answered with 303 See Other to ``/sp/loggedin``, which shows the login
from its cookie (POST-redirect-GET): reloading that page does not post the response again.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from defusedxml import ElementTree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.attribute_converter import to_local_name
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.response import StatusError, UnsolicitedResponse
from saml2.s_utils import UnsupportedBinding
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT, NameID
from saml2.samlp import STATUS_SUCCESS, response_from_string
from saml2.sigver import get_xmlsec_binary
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from satosa_efos import attributemaps
from satosa_efos.simulators.demo_idp import (
    CLOCK_SKEW_SECONDS,
    METADATA_CONTENT_TYPE,
    SHA256_EVERYWHERE,
    SHA256_EVERYWHERE_ARGS,
    LogoutEndpoints,
    PageError,
    SignedCookie,
    autopost_page,
    derive_secret,
    dispatch,
    login_json,
    metadata_xml,
    render_page,
    send_message,
    split_paths,
    status_codes,
    unsigned_reason,
    write_entity_metadata,
)

logger = logging.getLogger(__name__)

REQUEST_COOKIE = "demo_sp_request"
LOGIN_COOKIE = "demo_sp_login"
#: The last single logout this browser saw here (for the page and for tests).
LOGOUT_COOKIE = "demo_sp_logout"
REQUEST_MAX_AGE = 600  # seconds a user may spend at the proxy and the IdP
RELAY_STATE = "/"
XMLENC = "http://www.w3.org/2001/04/xmlenc#"


def sp_config(
    base_url: str,
    key_file: str | Path,
    cert_file: str | Path,
    metadata_files: Sequence[str | Path],
    name: str = "Demoapplikation",
    name_en: str = "Demo application",
) -> dict[str, Any]:
    """The pysaml2 SP configuration; ``metadata_files`` name the one IdP (the proxy)."""
    base_url = base_url.rstrip("/")
    keypair = {"key_file": str(key_file), "cert_file": str(cert_file)}
    return {
        "entityid": f"{base_url}/sp",
        "name": name,
        **keypair,
        # Offering an encryption key makes the proxy encrypt the assertion (DOMAIN.md §8).
        "encryption_keypairs": [keypair],
        "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
        "metadata": {"local": [str(path) for path in metadata_files]},
        "attribute_map_dir": attributemaps.INCOMING,
        "allow_unknown_attributes": True,
        **SHA256_EVERYWHERE,
        "accepted_time_diff": CLOCK_SKEW_SECONDS,
        "service": {
            "sp": {
                **SHA256_EVERYWHERE,
                "name": name,
                "endpoints": {
                    "assertion_consumer_service": [(f"{base_url}/sp/acs", BINDING_HTTP_POST)],
                    # Single logout (docs/sso.md): the proxy's LogoutRequests and its answers.
                    "single_logout_service": [
                        (f"{base_url}/sp/slo/redirect", BINDING_HTTP_REDIRECT),
                        (f"{base_url}/sp/slo/post", BINDING_HTTP_POST),
                    ],
                },
                "want_response_signed": True,
                "want_assertions_signed": True,
                "authn_requests_signed": True,
                "allow_unsolicited": False,
                "name_form": NAME_FORMAT_URI,
                "name_id_format": [NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT],
                "ui_info": {
                    "display_name": [
                        {"text": name, "lang": "sv"},
                        {"text": name_en, "lang": "en"},
                    ],
                    "description": [
                        {"text": "Demo – inte en riktig tjänst", "lang": "sv"},
                        {"text": "Demo – not a real service", "lang": "en"},
                    ],
                },
            }
        },
    }


def write_metadata(
    base_url: str,
    key_file: str | Path,
    cert_file: str | Path,
    path: str | Path,
    name: str = "Demoapplikation",
    name_en: str = "Demo application",
) -> Path:
    """Write the SP's metadata XML; it needs no peer metadata, so it can be written first."""
    config = sp_config(base_url, key_file, cert_file, [], name, name_en)
    return write_entity_metadata(SPConfig, config, path)


class DemoSP:
    """The WSGI application; one instance per gunicorn worker, holding no login state."""

    def __init__(
        self,
        base_url: str,
        key_file: str | Path,
        cert_file: str | Path,
        metadata_files: Sequence[str | Path],
        idp_entity_id: str | None = None,
        name: str = "Demoapplikation",
        name_en: str = "Demo application",
        cookie_suffix: str = "",
    ) -> None:
        config = sp_config(base_url, key_file, cert_file, metadata_files, name, name_en)
        self.base_url = base_url.rstrip("/")
        self.acs_url = f"{self.base_url}/sp/acs"
        self.names = (name, name_en)
        self.client = Saml2Client(config=SPConfig().load(config))
        self.metadata_xml = metadata_xml(SPConfig, config)
        self.idp_entity_id = idp_entity_id or self._only_idp()
        self.sso_url = self._sso_url(self.idp_entity_id)
        self.slo = SingleLogout(self, key_file)
        self.cookie = SignedCookie(derive_secret(key_file, "demo-sp cookies"))
        self.secure = self.base_url.startswith("https://")
        # Cookies ignore ports: a second demo application on the same host needs other names.
        self.request_cookie = REQUEST_COOKIE + cookie_suffix
        self.login_cookie = LOGIN_COOKIE + cookie_suffix
        self.logout_cookie = LOGOUT_COOKIE + cookie_suffix
        self.routes = {
            "/": self.start,
            "/sp": self.start,
            "/sp/": self.start,
            "/sp/login": self.login,
            "/sp/acs": self.acs,
            "/sp/loggedin": self.loggedin,
            "/sp/logout": self.logout,
            "/sp/slo/redirect": self.slo.slo_redirect,
            "/sp/slo/post": self.slo.slo_post,
            "/sp/attributes.json": self.attributes_json,
            "/sp/logout.json": self.logout_json,
            "/sp/metadata": self.metadata,
        }

    def _only_idp(self) -> str:
        idps = sorted(self.client.metadata.identity_providers())
        if len(idps) != 1:
            raise ValueError(f"the demo SP needs exactly one IdP in its metadata, found {idps}")
        return idps[0]

    def _sso_url(self, idp_entity_id: str) -> str:
        services = self.client.metadata.single_sign_on_service(idp_entity_id, BINDING_HTTP_POST)
        if not services:
            raise ValueError(f"{idp_entity_id} has no HTTP-POST SingleSignOnService")
        return services[0]["location"]

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        return dispatch(self.routes, environ, start_response, home_url=self._home)

    def _home(self, lang: str) -> str:
        return f"{self.base_url}/" + ("?lang=en" if lang == "en" else "")

    # --- endpoints ---------------------------------------------------------------------------

    def start(self, request: Request, lang: str) -> Response:
        return render_page(
            "sp_start.html",
            lang,
            switch_url=f"{self.base_url}/" + ("" if lang == "en" else "?lang=en"),
            login_url=f"{self.base_url}/sp/login",
            app_names=self.names,
            logout=self.cookie.loads(request.cookies.get(self.logout_cookie)),
        )

    def login(self, request: Request, lang: str) -> Response:
        """Send a signed AuthnRequest (HTTP-POST) and remember its id in a signed cookie."""
        request_id, authn_request = self.client.create_authn_request(
            self.sso_url, binding=BINDING_HTTP_POST, sign=True
        )
        response = autopost_page(self.sso_url, "SAMLRequest", str(authn_request), RELAY_STATE, lang)
        # The ACS is reached by a POST from another site, where a Lax cookie would stay behind;
        # SameSite=None needs Secure, so over plain http the attribute is left out.
        pending = {"id": request_id, "lang": lang}
        samesite = "None" if self.secure else None
        self._set_cookie(response, self.request_cookie, pending, REQUEST_MAX_AGE, samesite)
        return response

    def acs(self, request: Request, lang: str) -> Response:
        """Verify the proxy's Response, keep the login in a cookie and send the browser on to
        the page that shows it (303: a reload there does not post the response again)."""
        if request.method != "POST":
            raise MethodNotAllowed(["POST"])
        pending = self.cookie.loads(request.cookies.get(self.request_cookie), REQUEST_MAX_AGE) or {}
        lang = pending.get("lang", lang)
        encoded = request.form.get("SAMLResponse", "")
        if not encoded:
            raise PageError(
                400, "no_saml_response", "Inget SAML-svar kom.", "No SAML response came."
            )
        outstanding = {pending["id"]: RELAY_STATE} if "id" in pending else {}
        result = self._parse_response(encoded, outstanding, lang)
        login = describe_login(result, self.client.config.attribute_converters)
        login["encryption_methods"] = encryption_methods(encoded)
        response = redirect(self._loggedin_url(lang), code=303)
        response.headers["Cache-Control"] = "no-store"
        response.delete_cookie(self.request_cookie, path="/sp")  # one response per request
        self._set_cookie(response, self.login_cookie, login, None, samesite="Lax")
        return response

    def _parse_response(self, encoded: str, outstanding: dict[str, str], lang: str) -> Any:
        try:
            result = self.client.parse_authn_request_response(
                encoded, BINDING_HTTP_POST, outstanding=outstanding
            )
        except StatusError:
            raise PageError(
                401,
                "saml_status",
                "Inloggningstjänsten svarade med ett fel.",
                "The login service answered with an error.",
                detail=status_text(encoded),
                lang=lang,
            ) from None
        except UnsolicitedResponse:
            raise PageError(
                401,
                "unsolicited",
                "Svaret hör inte till någon inloggning som startats i den här webbläsaren.",
                "The response answers no login started in this browser.",
                lang=lang,
            ) from None
        except Exception as exc:
            logger.info("refused SAML response: %s: %s", type(exc).__name__, exc)
            result = None
        if result is None or result.response.destination != self.acs_url:
            raise PageError(
                401,
                "invalid_response",
                "Svaret kunde inte verifieras (signatur, mottagare eller giltighetstid).",
                "The response could not be verified (signature, recipient or validity).",
                detail=status_text(encoded),  # an unsigned error status is still worth seeing
                lang=lang,
            )
        return result

    def loggedin(self, request: Request, lang: str) -> Response:
        """What the application received at the last login in this browser (from the cookie)."""
        login = self.cookie.loads(request.cookies.get(self.login_cookie))
        if login is None:
            return redirect(self._home(lang), code=303)
        return render_page(
            "sp_loggedin.html",
            lang,
            login=login,
            app_names=self.names,
            logout_url=self._logout_url(lang),
            switch_url=self._loggedin_url("sv" if lang == "en" else "en"),
        )

    def logout(self, request: Request, lang: str) -> Response:
        """Single logout through the proxy (``?binding=post`` for HTTP-POST, HTTP-Redirect
        otherwise); without a login, or with ``?local=1``, only this application forgets it."""
        login = self.cookie.loads(request.cookies.get(self.login_cookie))
        if login is not None and not request.values.get("local"):
            started = self.slo.start(request, lang, login)
            if started is not None:
                return started
        response = redirect(self._home(lang), code=303)
        response.delete_cookie(self.login_cookie, path="/sp")
        response.delete_cookie(self.request_cookie, path="/sp")
        return response

    def logout_json(self, request: Request, lang: str) -> Response:
        """The last single logout message this application received in this browser."""
        return login_json(self.cookie.loads(request.cookies.get(self.logout_cookie)))

    def attributes_json(self, request: Request, lang: str) -> Response:
        """The last login in this browser, for tests that would rather not scrape HTML."""
        return login_json(self.cookie.loads(request.cookies.get(self.login_cookie)))

    def metadata(self, request: Request, lang: str) -> Response:
        return Response(self.metadata_xml, content_type=METADATA_CONTENT_TYPE)

    def _loggedin_url(self, lang: str) -> str:
        return f"{self.base_url}/sp/loggedin" + ("?lang=en" if lang == "en" else "")

    def _logout_url(self, lang: str) -> str:
        return f"{self.base_url}/sp/logout" + ("?lang=en" if lang == "en" else "")

    def _set_cookie(
        self,
        response: Response,
        name: str,
        payload: dict[str, Any],
        max_age: int | None,
        samesite: str | None,
        path: str = "/sp",
    ) -> None:
        self.cookie.set(response, name, payload, max_age=max_age, path=path, secure=self.secure,
                        samesite=samesite)  # fmt: skip


class SingleLogout(LogoutEndpoints):
    """The demo application's single logout (SAML profiles §4.4), front-channel.

    pysaml2 builds and signs the messages; that they are signed by the proxy's metadata keys is
    checked as the demo IdP checks its SP's (``demo_idp.unsigned_reason``). What it received
    last is kept in a signed cookie, for the start page and for tests (``/sp/logout.json``).
    """

    def __init__(self, sp: DemoSP, key_file: str | Path) -> None:
        self.sp = sp
        metadata = sp.client.metadata
        self.proxy_slo: dict[str, str] = {}
        for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
            try:
                services = metadata.single_logout_service(sp.idp_entity_id, binding, "idpsso")
            except UnsupportedBinding:  # an IdP without single logout: only local logout here
                continue
            if services:
                self.proxy_slo[binding] = services[0]["location"]
        self.certs = [cert for _, cert in metadata.certs(sp.idp_entity_id, "idpsso", "signing")]
        self.own = {
            BINDING_HTTP_REDIRECT: f"{sp.base_url}/sp/slo/redirect",
            BINDING_HTTP_POST: f"{sp.base_url}/sp/slo/post",
        }

    def _send(self, binding: str, field: str, message: Any, destination: str,
              relay_state: str, lang: str) -> Response:  # fmt: skip
        return send_message(self.sp.client, binding, field, message, destination, relay_state,
                            lang)  # fmt: skip

    # -- the user logs out here ---------------------------------------------------------------

    def start(self, request: Request, lang: str, login: dict[str, Any]) -> Response | None:
        post = request.values.get("binding") == "post"
        binding = BINDING_HTTP_POST if post else BINDING_HTTP_REDIRECT
        destination = self.proxy_slo.get(binding)
        if destination is None or not login.get("name_id"):
            return None
        name_id = NameID(text=login["name_id"], format=login.get("name_id_format"),
                         name_qualifier=login.get("name_qualifier"),
                         sp_name_qualifier=login.get("sp_name_qualifier"))  # fmt: skip
        request_id, message = self.sp.client.create_logout_request(
            destination, self.sp.idp_entity_id, name_id=name_id,
            session_indexes=[login["session_index"]] if login.get("session_index") else None,
            sign=binding == BINDING_HTTP_POST, **SHA256_EVERYWHERE_ARGS,
        )  # fmt: skip
        response = self._send(binding, "SAMLRequest", message, destination, "logout", lang)
        samesite = "None" if self.sp.secure else None
        self.sp._set_cookie(response, self.sp.request_cookie, {"logout": request_id, "lang": lang},
                            REQUEST_MAX_AGE, samesite)  # fmt: skip
        return response

    # -- messages from the proxy ----------------------------------------------------------------

    def _check_signed(self, values: dict[str, str], field: str, binding: str, lang: str) -> None:
        why = unsigned_reason(self.sp.client, self.certs, values, field, binding)
        if why:
            raise self._refused(why, lang)

    def _logout_request(self, request: Request, values: dict[str, str], binding: str, lang: str):
        """The proxy logs the user out of this application (the user logged out elsewhere)."""
        self._check_signed(values, "SAMLRequest", binding, lang)
        try:
            parsed = self.sp.client.parse_logout_request(values["SAMLRequest"], binding)
        except Exception as exc:
            raise self._refused(f"{type(exc).__name__}: {exc}", lang) from None
        message = parsed.message if parsed is not None else None
        if message is None or message.issuer.text != self.sp.idp_entity_id:
            raise self._refused("not a LogoutRequest from the proxy", lang)
        if message.destination != self.own[binding]:
            raise self._refused(f"Destination {message.destination}", lang)
        login = self.sp.cookie.loads(request.cookies.get(self.sp.login_cookie))
        matched = login is not None and login.get("name_id") == message.name_id.text
        answer = self.sp.client.create_logout_response(
            message, bindings=[binding], sign=binding == BINDING_HTTP_POST, **SHA256_EVERYWHERE_ARGS
        )
        destination = self.proxy_slo[binding]
        response = self._send(binding, "SAMLResponse", answer, destination,
                              values.get("RelayState", ""), lang)  # fmt: skip
        if matched:
            response.delete_cookie(self.sp.login_cookie, path="/sp")
        received = {
            "received": "LogoutRequest",
            "binding": binding,
            "signature_verified": True,
            "name_id": message.name_id.text,
            "session_index": [i.text for i in message.session_index or []],
            "matched_login": matched,
        }
        self.sp._set_cookie(response, self.sp.logout_cookie, received, None, samesite="Lax",
                            path="/")  # fmt: skip
        return response

    def _logout_response(self, request: Request, values: dict[str, str], binding: str, lang: str):
        """The proxy's answer to this application's LogoutRequest: the user is logged out."""
        pending = self.sp.cookie.loads(request.cookies.get(self.sp.request_cookie),
                                       REQUEST_MAX_AGE) or {}  # fmt: skip
        lang = pending.get("lang", lang)
        expected = {"issuer": self.sp.idp_entity_id, "request_id": pending.get("logout"),
                    "destination": self.own[binding]}  # fmt: skip
        _, codes = self._verified_answer(self.sp.client, self.certs, values, binding, expected,
                                         lang)  # fmt: skip
        response = redirect(self.sp._home(lang), code=303)
        response.delete_cookie(self.sp.login_cookie, path="/sp")
        response.delete_cookie(self.sp.request_cookie, path="/sp")
        received = {"received": "LogoutResponse", "binding": binding, "status": codes,
                    "signature_verified": True}  # fmt: skip
        self.sp._set_cookie(response, self.sp.logout_cookie, received, None, samesite="Lax",
                            path="/")  # fmt: skip
        return response


def describe_login(result: Any, converters: Any) -> dict[str, Any]:
    """What the application got, as plain data: for the page and for attributes.json."""
    assertion = result.assertion
    attributes: dict[str, list[str]] = {}
    uris: dict[str, str] = {}
    for statement in assertion.attribute_statement:
        for attribute in statement.attribute:
            name = to_local_name(converters, attribute) or attribute.name
            values = [value.text or "" for value in attribute.attribute_value]
            attributes.setdefault(name, []).extend(values)
            uris[name] = attribute.name
    name_id = assertion.subject.name_id
    statement = assertion.authn_statement[0] if assertion.authn_statement else None
    context = statement.authn_context if statement is not None else None
    class_ref = context.authn_context_class_ref if context is not None else None
    return {
        "issuer": result.issuer(),
        "name_id": name_id.text if name_id is not None else None,
        "name_id_format": name_id.format if name_id is not None else None,
        # What single logout names again (SAML core §3.7.1): the NameID exactly as received.
        "name_qualifier": name_id.name_qualifier if name_id is not None else None,
        "sp_name_qualifier": name_id.sp_name_qualifier if name_id is not None else None,
        "session_index": statement.session_index if statement is not None else None,
        "authn_context_class_ref": class_ref.text.strip() if class_ref is not None else None,
        "authenticating_authorities": [
            authority.text for authority in (context.authenticating_authority if context else [])
        ],
        "attributes": attributes,
        "attribute_uris": uris,
    }


def encryption_methods(encoded: str) -> list[str]:
    """The algorithms an encrypted assertion used (none when unencrypted): DOMAIN.md §8 forbids
    3DES and RSA-1_5, and a flow test can read here what the proxy chose."""
    root = ElementTree.fromstring(base64.b64decode(encoded))
    return [element.get("Algorithm", "") for element in root.iter(f"{{{XMLENC}}}EncryptionMethod")]


def status_text(encoded: str) -> str:
    """The StatusCode chain and message of an error Response, for the page ("" on success)."""
    try:
        status = response_from_string(base64.b64decode(encoded)).status
    except Exception:
        return ""
    if status is None or status.status_code.value == STATUS_SUCCESS:
        return ""
    codes = status_codes(status)
    message = status.status_message.text if status.status_message is not None else ""
    return " / ".join(codes) + (f" – {message}" if message else "")


def make_app(
    base_url: str,
    key_file: str | Path,
    cert_file: str | Path,
    metadata_files: Sequence[str | Path],
    idp_entity_id: str | None = None,
    **names: str,
) -> DemoSP:
    """The demo SP as a WSGI application; its metadata must hold exactly one IdP unless named.
    ``names``: ``name``, ``name_en``, ``cookie_suffix`` (a second application)."""
    return DemoSP(base_url, key_file, cert_file, metadata_files, idp_entity_id, **names)


def create_app() -> DemoSP:
    """gunicorn factory: ``gunicorn 'satosa_efos.simulators.demo_sp:create_app()'``.

    Reads DEMO_SP_BASE_URL, DEMO_SP_KEY, DEMO_SP_CERT and DEMO_SP_METADATA (the proxy's IdP
    metadata; several files separated by ``os.pathsep``); a second demo application also
    DEMO_SP_NAME, DEMO_SP_NAME_EN and DEMO_SP_COOKIE_SUFFIX.
    """
    names = {
        key: os.environ[variable]
        for key, variable in (("name", "DEMO_SP_NAME"), ("name_en", "DEMO_SP_NAME_EN"),
                              ("cookie_suffix", "DEMO_SP_COOKIE_SUFFIX"))
        if os.environ.get(variable)
    }  # fmt: skip
    return make_app(
        os.environ["DEMO_SP_BASE_URL"],
        os.environ["DEMO_SP_KEY"],
        os.environ["DEMO_SP_CERT"],
        split_paths(os.environ.get("DEMO_SP_METADATA", "")),
        **names,
    )
