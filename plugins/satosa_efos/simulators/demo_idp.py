"""A demo organisation IdP (demo only, not a real service): pysaml2 behind a tiny WSGI app.

It stands in for a municipality's ADFS or a region's own IdP in ``make run`` and in the flow and
browser tests. It keeps no server-side state: the login form carries the SAMLRequest, RelayState
and binding in hidden fields and ``/idp/login`` parses the request again, so any gunicorn worker
(or a restarted one) can finish any login.

Its own session (what single logout ends, docs/sso.md) is an HMAC-signed cookie for ``/idp``:
the user, when she logged in, and per SP the NameID and SessionIndex it was given. While it lasts
the login page offers "continue as ..." (no password; not with ``ForceAuthn``) and an
``IsPassive`` request is answered from it. Single logout (SAML profiles §4.4), front-channel,
HTTP-Redirect or HTTP-POST: a signed **LogoutRequest** from the SP (the proxy) that names the
session's NameID and SessionIndex ends it (``Success``; a request naming no session of this
browser is answered ``Requester`` / ``UnknownPrincipal``); ``/idp/logout`` ends it here and sends
the SP a signed LogoutRequest, whose LogoutResponse comes back to ``/idp/slo/*``. Messages from
the SP must be signed by a key of its metadata. Deleting the cookie is the whole of ending the
session: a demo, not a real IdP (a copied cookie would still log in).

pysaml2 signs with SHA-1 unless ``signing_algorithm`` / ``digest_algorithm`` are set in the
*service* section of the configuration (``Entity`` reads them in its "idp"/"sp" context and uses
them as the default of every ``sign_alg`` / ``digest_alg`` argument); metadata signing reads the
top-level ones. ``SHA256_EVERYWHERE`` goes into both places.

The page helpers at the end of this module are shared with ``demo_sp``: both demo peers have
one look and one "Demo – inte en riktig tjänst" banner.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context
from lxml import etree
from markupsafe import Markup
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import Config, IdPConfig
from saml2.metadata import entity_descriptor, metadata_tostring_fix
from saml2.s_utils import UnknownSystemEntity, UnsupportedBinding, status_message_factory
from saml2.saml import (
    NAME_FORMAT_URI,
    NAMEID_FORMAT_PERSISTENT,
    NAMEID_FORMAT_TRANSIENT,
    NAMEID_FORMAT_UNSPECIFIED,
    NameID,
)
from saml2.samlp import (
    STATUS_INVALID_NAMEID_POLICY,
    STATUS_NO_PASSIVE,
    STATUS_REQUESTER,
    STATUS_UNKNOWN_PRINCIPAL,
    logout_response_from_string,
)
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary, verify_redirect_signature
from saml2.validate import valid_instance
from saml2.xmldsig import (
    DIGEST_SHA256,
    DIGEST_SHA384,
    DIGEST_SHA512,
    SIG_RSA_SHA256,
    SIG_RSA_SHA384,
    SIG_RSA_SHA512,
)
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from satosa_efos import attributemaps
from satosa_efos.simulators.demo_users import DemoUser, load_demo_users

logger = logging.getLogger(__name__)

DEFAULT_LOA = "http://id.elegnamnden.se/loa/1.0/loa3"
BINDINGS = {"redirect": BINDING_HTTP_REDIRECT, "post": BINDING_HTTP_POST}
NAME_ID_FORMATS = (NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT)  # persistent is the default
CLOCK_SKEW_SECONDS = 60  # DOMAIN.md §8: the profile allows at most 60 s
METADATA_CONTENT_TYPE = "application/samlmetadata+xml"
# pysaml2 reads these twice: top level (metadata signing) and per service, where Entity looks
# them up in its own context ("idp"/"sp"); set only at the top, messages are signed with SHA-1.
SHA256_EVERYWHERE = {"signing_algorithm": SIG_RSA_SHA256, "digest_algorithm": DIGEST_SHA256}
STRONG_ALGORITHMS = {
    *(DIGEST_SHA256, DIGEST_SHA384, DIGEST_SHA512),
    *(SIG_RSA_SHA256, SIG_RSA_SHA384, SIG_RSA_SHA512),
}
#: pysaml2's message methods take the algorithms as ``sign_alg`` / ``digest_alg``.
SHA256_EVERYWHERE_ARGS = {"sign_alg": SIG_RSA_SHA256, "digest_alg": DIGEST_SHA256}
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
#: Seconds the IdP's session lasts without a new answer from it (a working day).
SESSION_MAX_AGE = 8 * 3600
#: Seconds a LogoutRequest the IdP sent may wait for its LogoutResponse.
LOGOUT_MAX_AGE = 600


def idp_config(
    base_url: str,
    key_file: str | Path,
    cert_file: str | Path,
    metadata_files: Sequence[str | Path],
    title: str = "Demo-IdP (organisation)",
    single_logout: bool = True,
) -> dict[str, Any]:
    """The pysaml2 IdP configuration; ``metadata_files`` name the SPs (the proxy) it answers.
    ``single_logout=False`` leaves the SingleLogoutService out (an IdP without single logout)."""
    base_url = base_url.rstrip("/")
    slo = [
        (f"{base_url}/idp/slo/redirect", BINDING_HTTP_REDIRECT),
        (f"{base_url}/idp/slo/post", BINDING_HTTP_POST),
    ]
    return {
        "entityid": f"{base_url}/idp",
        "name": title,
        "key_file": str(key_file),
        "cert_file": str(cert_file),
        "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
        "metadata": {"local": [str(path) for path in metadata_files]},
        "attribute_map_dir": attributemaps.SWEDISH_EID,
        **SHA256_EVERYWHERE,
        "accepted_time_diff": CLOCK_SKEW_SECONDS,
        "service": {
            "idp": {
                **SHA256_EVERYWHERE,
                "name": title,
                "endpoints": {
                    "single_sign_on_service": [
                        (f"{base_url}/idp/sso/redirect", BINDING_HTTP_REDIRECT),
                        (f"{base_url}/idp/sso/post", BINDING_HTTP_POST),
                    ],
                    **({"single_logout_service": slo} if single_logout else {}),
                },
                "name_id_format": list(NAME_ID_FORMATS),
                "sign_response": True,
                "sign_assertion": True,
                "encrypt_assertion": False,
                # A redirect-binding signature cannot be checked again at /idp/login without
                # carrying its exact query encoding; a POST-binding signature is still verified.
                "want_authn_requests_signed": False,
                "ui_info": {
                    "display_name": [
                        {"text": title, "lang": "sv"},
                        {"text": title, "lang": "en"},
                    ],
                    "description": [
                        {"text": "Demo – inte en riktig tjänst", "lang": "sv"},
                        {"text": "Demo – not a real service", "lang": "en"},
                    ],
                },
                "policy": {
                    "default": {
                        "lifetime": {"minutes": 5},
                        "name_form": NAME_FORMAT_URI,
                        "attribute_restrictions": None,
                        # The proxy may list requested attributes; a demo user lacking one
                        # should still log in and let the proxy decide.
                        "fail_on_missing_requested": False,
                    }
                },
            }
        },
    }


def write_metadata(
    base_url: str,
    key_file: str | Path,
    cert_file: str | Path,
    path: str | Path,
    single_logout: bool = True,
) -> Path:
    """Write the IdP's metadata XML; it needs no peer metadata, so it can be written first."""
    config = idp_config(base_url, key_file, cert_file, [], single_logout=single_logout)
    return write_entity_metadata(IdPConfig, config, path)


def write_entity_metadata(config_class: Any, config: dict[str, Any], path: str | Path) -> Path:
    """A demo peer's metadata file, made from its own configuration alone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(metadata_xml(config_class, config))
    return path


def metadata_xml(config_class: type[Config], config: dict[str, Any]) -> bytes:
    """Unsigned metadata for a demo peer (shared with demo_sp).

    pysaml2 advertises every algorithm the local xmlsec1 knows (MD5 and SHA-1 included) in an
    ``alg:`` extension; a peer choosing from that list must only find what the profile allows.
    """
    descriptor = entity_descriptor(config_class().load(dict(config, metadata={})))
    extensions = descriptor.extensions
    extensions.extension_elements = [
        element
        for element in extensions.extension_elements
        if element.tag not in ("DigestMethod", "SigningMethod")
        or element.attributes.get("Algorithm") in STRONG_ALGORITHMS
    ]
    valid_instance(descriptor)
    xml = metadata_tostring_fix(descriptor, {"xs": "http://www.w3.org/2001/XMLSchema"})
    return xml if isinstance(xml, bytes) else xml.encode("utf-8")


def derive_secret(key_file: str | Path, purpose: str) -> bytes:
    """A stable secret from a private key file, so restarts and other workers agree on it."""
    return hmac.new(Path(key_file).read_bytes(), purpose.encode(), hashlib.sha256).digest()


class CookieSetter:
    """Mixed into the demo peers' cookie codecs (which have ``dumps``)."""

    def set(self, response: Response, name: str, payload: dict[str, Any], *, max_age: int | None,
            path: str, secure: bool, samesite: str | None) -> None:  # fmt: skip
        """Put ``payload`` in the HttpOnly cookie ``name`` of ``response``."""
        response.set_cookie(name, self.dumps(payload), max_age=max_age, path=path, secure=secure,
                            httponly=True, samesite=samesite)  # fmt: skip


class SignedCookie(CookieSetter):
    """JSON in a cookie, compressed and HMAC-signed: readable by every worker, forgeable by none."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def dumps(self, payload: dict[str, Any]) -> str:
        body = zlib.compress(json.dumps(dict(payload, iat=int(time.time()))).encode())
        mac = hmac.new(self.secret, body, hashlib.sha256).digest()
        return f"{_b64(body)}.{_b64(mac)}"

    def loads(self, value: str | None, max_age: int | None = None) -> dict[str, Any] | None:
        try:
            body_text, mac_text = (value or "").split(".")
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (ValueError, binascii.Error):
            return None
        if not hmac.compare_digest(mac, hmac.new(self.secret, body, hashlib.sha256).digest()):
            return None
        payload = json.loads(zlib.decompress(body))
        if max_age is not None and time.time() - payload.get("iat", 0) > max_age:
            return None
        return payload


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- single logout, shared with demo_sp -------------------------------------------------------


def send_message(entity: Any, binding: str, field: str, message: Any, destination: str,
                 relay_state: str, lang: str) -> Response:  # fmt: skip
    """A SAML message through the browser: HTTP-Redirect with a query-string signature made by
    pysaml2 (bindings §3.4.4.1), or HTTP-POST as a form (the message signed by its maker)."""
    if binding == BINDING_HTTP_REDIRECT:
        info = entity.apply_binding(
            BINDING_HTTP_REDIRECT, str(message), destination, relay_state,
            response=field == "SAMLResponse", sign=True, sigalg=SIG_RSA_SHA256,
        )  # fmt: skip
        return redirect(dict(info["headers"])["Location"], code=303)
    return autopost_page(destination, field, str(message), relay_state, lang)


def unsigned_reason(entity: Any, certs: Sequence[str], values: dict[str, str], field: str,
                    binding: str) -> str | None:  # fmt: skip
    """Why a logout message is not signed by its sender (None when it is).

    pysaml2 verifies an HTTP-Redirect signature only when told the message must be signed and
    accepts an unsigned POST message, so this is checked here: the redirect signature with
    pysaml2's own ``verify_redirect_signature`` and the sender's metadata ``certs``; for POST
    that a signature is there at all (pysaml2 verifies it while parsing).
    """
    if binding == BINDING_HTTP_REDIRECT:
        message = {k: values[k] for k in (field, "RelayState", "SigAlg", "Signature")
                   if k in values}  # fmt: skip
        if "Signature" not in message or "SigAlg" not in message:
            return "unsigned HTTP-Redirect message"
        backend = entity.sec.sec_backend
        if not any(verify_redirect_signature(message, backend, cert) for cert in certs):
            return "the redirect signature does not verify"
        return None
    if b"Signature" not in base64.b64decode(values[field]):
        return "unsigned HTTP-POST message"
    return None


def status_codes(status: Any) -> list[str]:
    """The StatusCode chain of a SAML status, outermost first."""
    codes, code = [], status.status_code if status is not None else None
    while code is not None:
        codes.append(code.value)
        code = code.status_code
    return codes


class LogoutEndpoints(ABC):
    """A demo peer's two SingleLogoutService endpoints (HTTP-Redirect, HTTP-POST), each taking
    both kinds of message; the peer defines ``_logout_request`` and ``_logout_response``."""

    def slo_redirect(self, request: Request, lang: str) -> Response:
        return self._single_logout(request, dict(request.args), BINDING_HTTP_REDIRECT, lang)

    def slo_post(self, request: Request, lang: str) -> Response:
        if request.method != "POST":
            raise MethodNotAllowed(["POST"])
        return self._single_logout(request, dict(request.form), BINDING_HTTP_POST, lang)

    def _single_logout(self, request: Request, values: dict[str, str], binding: str, lang: str):
        if "SAMLRequest" in values:
            return self._logout_request(request, values, binding, lang)
        if "SAMLResponse" in values:
            return self._logout_response(request, values, binding, lang)
        raise PageError(400, "no_saml_message", "Inget SAML-meddelande kom.",
                        "No SAML message came.", lang=lang)  # fmt: skip

    @abstractmethod
    def _logout_request(self, request: Request, values: dict[str, str], binding: str, lang: str):
        """Answer a LogoutRequest that came to this peer."""

    @abstractmethod
    def _logout_response(self, request: Request, values: dict[str, str], binding: str, lang: str):
        """Take the LogoutResponse to a LogoutRequest this peer sent."""

    def _refused(self, why: str, lang: str) -> PageError:
        logger.info("single logout message refused: %s", why)
        return PageError(403, "bad_logout", "Utloggningsmeddelandet kunde inte verifieras.",
                         "The logout message could not be verified.", detail=why,
                         lang=lang)  # fmt: skip

    def _verified_answer(self, entity: Any, certs: Sequence[str], values: dict[str, str],
                         binding: str, expected: dict[str, str | None], lang: str,
                         ) -> tuple[Any, list[str]]:  # fmt: skip
        """(LogoutResponse, its status codes) from ``expected["issuer"]``, signed by a key of
        its metadata (``certs``), answering ``expected["request_id"]`` and sent to
        ``expected["destination"]``; else a refusal page."""
        why = unsigned_reason(entity, certs, values, "SAMLResponse", binding)
        if why:
            raise self._refused(why, lang)
        data = base64.b64decode(values["SAMLResponse"])
        if binding == BINDING_HTTP_REDIRECT:
            data = zlib.decompress(data, -15)
        elif not entity.sec.correctly_signed_logout_response(data, must=True):
            raise self._refused("the LogoutResponse signature does not verify", lang)
        answer = logout_response_from_string(data)
        if answer is None or answer.issuer is None or answer.issuer.text != expected["issuer"]:
            raise self._refused(f"not a LogoutResponse from {expected['issuer']}", lang)
        if not expected["request_id"] or answer.in_response_to != expected["request_id"]:
            raise self._refused("the LogoutResponse answers no logout started here", lang)
        if answer.destination != expected["destination"]:
            raise self._refused(f"Destination {answer.destination}", lang)
        return answer, status_codes(answer.status)


class DemoIdP(LogoutEndpoints):
    """The WSGI application; one instance per gunicorn worker, holding no login state."""

    def __init__(
        self,
        base_url: str,
        key_file: str | Path,
        cert_file: str | Path,
        metadata_files: Sequence[str | Path],
        users: Iterable[DemoUser] | None = None,
        organisation: str | None = None,
        title: str = "Demo-IdP",
        answer_loa: str | None = None,
    ) -> None:
        config = idp_config(base_url, key_file, cert_file, metadata_files, title)
        self.title = title
        self.base_url = base_url.rstrip("/")
        #: Answer this AuthnContextClassRef whatever was asked (to test LoA downgrades).
        self.answer_loa = answer_loa
        self.entity_id: str = config["entityid"]
        self.login_url = f"{self.entity_id}/login"
        self.server = Server(config=IdPConfig().load(config))
        self.metadata_xml = metadata_xml(IdPConfig, config)
        self.users = {
            user.username: user
            for user in (users or load_demo_users())
            if organisation in (None, "*") or user.idp == organisation
        }
        self.name_id_secret = derive_secret(key_file, "demo-idp persistent NameID")
        self.cookie = SignedCookie(derive_secret(key_file, "demo-idp session"))
        self.secure = self.base_url.startswith("https://")
        # Cookies ignore ports: each demo IdP on the same host needs names of its own.
        suffix = hashlib.sha256(self.entity_id.encode()).hexdigest()[:8]
        self.session_cookie = f"demo_idp_session_{suffix}"
        self.pending_cookie = f"demo_idp_pending_{suffix}"
        self.logout_cookie = f"demo_idp_logout_{suffix}"
        self.slo_urls = {
            BINDING_HTTP_REDIRECT: f"{self.base_url}/idp/slo/redirect",
            BINDING_HTTP_POST: f"{self.base_url}/idp/slo/post",
        }
        self.routes = {
            "/idp/sso/redirect": self.sso_redirect,
            "/idp/sso/post": self.sso_post,
            "/idp/login": self.login,
            "/idp/metadata": self.metadata,
            "/idp/slo/redirect": self.slo_redirect,
            "/idp/slo/post": self.slo_post,
            "/idp/logout": self.logout,
            "/idp/session.json": self.session_json,
            "/idp/logout.json": self.logout_json,
        }

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        return dispatch(self.routes, environ, start_response)

    # --- endpoints ---------------------------------------------------------------------------

    def sso_redirect(self, request: Request, lang: str) -> Response:
        return self._show_login(request, "redirect", lang)

    def sso_post(self, request: Request, lang: str) -> Response:
        return self._show_login(request, "post", lang)

    def metadata(self, request: Request, lang: str) -> Response:
        return Response(self.metadata_xml, content_type=METADATA_CONTENT_TYPE)

    def login(self, request: Request, lang: str) -> Response:
        """Check the credentials against a freshly parsed request and answer the SP."""
        if request.method != "POST":
            raise MethodNotAllowed(["POST"])
        form = request.form
        binding = form.get("binding", "")
        saml_request = self._parse(form.get("SAMLRequest", ""), binding)
        relay_state = form.get("RelayState", "")
        session = self._session(request, saml_request)
        if form.get("session") == "continue" and session is not None:
            return self._answer(saml_request, session[0], relay_state, lang, session[1])
        if "username" not in form:  # the language switch re-posts the form without credentials
            return self._login_form(form["SAMLRequest"], relay_state, binding, lang,
                                    session=session)  # fmt: skip
        user = self.users.get(form.get("username", "").strip())
        password = form.get("password", "").encode()
        if user is None or not hmac.compare_digest(password, user.password.encode()):
            username = form.get("username", "")
            return self._login_form(
                form["SAMLRequest"], relay_state, binding, lang, bad_login=True, username=username
            )
        return self._answer(saml_request, user, relay_state, lang)

    # --- SAML --------------------------------------------------------------------------------

    def _show_login(self, request: Request, binding: str, lang: str) -> Response:
        values = request.values
        saml_request = values.get("SAMLRequest", "")
        parsed = self._parse(saml_request, binding)
        relay_state = values.get("RelayState", "")
        session = self._session(request, parsed)
        if _true(parsed.message.is_passive):
            # IsPassive: no page may be shown; only this browser's session can answer.
            if session is not None:
                return self._answer(parsed, session[0], relay_state, lang, session[1])
            args = self.server.response_args(parsed.message, [BINDING_HTTP_POST])
            response = self.server.create_error_response(
                args["in_response_to"], args["destination"],
                (STATUS_NO_PASSIVE, "no session at the demo IdP to log in from"), sign=True,
            )  # fmt: skip
            return autopost_page(args["destination"], "SAMLResponse", str(response), relay_state,
                                 lang)  # fmt: skip
        return self._login_form(saml_request, relay_state, binding, lang, session=session)

    def _session(self, request: Request, parsed: Any = None) -> tuple[DemoUser, dict] | None:
        """This browser's live session here and its user; None without one, and when the
        request forces a new login (``ForceAuthn``)."""
        if parsed is not None and _true(parsed.message.force_authn):
            return None
        session = self.cookie.loads(request.cookies.get(self.session_cookie), SESSION_MAX_AGE)
        user = self.users.get((session or {}).get("user", ""))
        return (user, session) if user is not None and session is not None else None

    def _parse(self, saml_request: str, binding: str) -> Any:
        """Parse and check an AuthnRequest; refuse it unless a known SP can be answered."""
        if not saml_request or binding not in BINDINGS:
            raise PageError(
                400, "no_saml_request", "Begäran saknar SAMLRequest.", "No SAMLRequest was sent."
            )
        try:
            parsed = self.server.parse_authn_request(saml_request, BINDINGS[binding])
            if parsed is None:
                raise ValueError("unparseable AuthnRequest")
            # Also proves the issuer is an SP in metadata with this ACS URL (or a POST ACS).
            self.server.response_args(parsed.message, [BINDING_HTTP_POST])
        except Exception as exc:
            logger.info("refused AuthnRequest: %s: %s", type(exc).__name__, exc)
            raise PageError(
                400,
                "bad_saml_request",
                "Inloggningsbegäran kunde inte läsas eller kommer från en okänd tjänst.",
                "The login request could not be read or comes from an unknown service.",
                detail=type(exc).__name__,
            ) from None
        return parsed

    def _answer(self, saml_request: Any, user: DemoUser, relay_state: str, lang: str,
                session: dict | None = None) -> Response:  # fmt: skip
        """Build the signed Response and auto-POST it to the SP's ACS; a login (or one from
        ``session``) is noted in the session cookie with what the SP was given."""
        args = self.server.response_args(saml_request.message, [BINDING_HTTP_POST])
        args.pop("binding", None)
        policy = args.pop("name_id_policy", None)
        requested_format = getattr(policy, "format", None) or NAMEID_FORMAT_UNSPECIFIED
        if requested_format not in (NAMEID_FORMAT_UNSPECIFIED, *NAME_ID_FORMATS):
            unsupported = (STATUS_INVALID_NAMEID_POLICY, f"NameID format {requested_format}")
            response = self.server.create_error_response(
                args["in_response_to"], args["destination"], unsupported, sign=True
            )
            return autopost_page(args["destination"], "SAMLResponse", str(response), relay_state,
                                 lang)  # fmt: skip
        if session is None or session.get("user") != user.username:
            session = {"user": user.username, "authn_instant": int(time.time()), "sps": {}}
        name_id = self._name_id(user, args["sp_entity_id"], requested_format)
        authn = {"class_ref": self.answer_loa or requested_loa(saml_request.message),
                 "authn_instant": session["authn_instant"]}  # fmt: skip
        response = str(self.server.create_authn_response(
            identity=user.attributes, userid=user.username, name_id=name_id, authn=authn,
            sign_response=True, sign_assertion=True, **args,
        ))  # fmt: skip
        # What single logout will name again (SAML core §3.7.1): this NameID, and the
        # SessionIndex pysaml2 gave the AuthnStatement.
        statement = etree.fromstring(response.encode()).find(f".//{{{SAML_NS}}}AuthnStatement")
        session["sps"][args["sp_entity_id"]] = {
            "name_id": name_id.text,
            "name_id_format": name_id.format,
            "name_qualifier": name_id.name_qualifier,
            "sp_name_qualifier": name_id.sp_name_qualifier,
            "session_index": statement.get("SessionIndex") if statement is not None else None,
        }
        page = autopost_page(args["destination"], "SAMLResponse", response, relay_state, lang)
        self._set_cookie(page, self.session_cookie, session, SESSION_MAX_AGE)
        return page

    def _set_cookie(self, response: Response, name: str, payload: dict[str, Any],
                    max_age: int | None) -> None:  # fmt: skip
        # A LogoutRequest posted from the SP's site carries only a SameSite=None cookie, which
        # needs Secure: over plain http (the demo on loopback, one site) the default is Lax.
        self.cookie.set(response, name, payload, max_age=max_age, path="/idp", secure=self.secure,
                        samesite="None" if self.secure else "Lax")  # fmt: skip

    # --- single logout -----------------------------------------------------------------------

    def session_json(self, request: Request, lang: str) -> Response:
        """This browser's session here (for tests): the user and what each SP was given."""
        session = self._session(request)
        return login_json(session[1] if session is not None else None)

    def logout_json(self, request: Request, lang: str) -> Response:
        """The last single logout message this IdP received in this browser (for tests)."""
        return login_json(self.cookie.loads(request.cookies.get(self.logout_cookie)))

    def _sp_certs(self, sp: str | None) -> list[str]:
        try:
            return [cert for _, cert in self.server.metadata.certs(sp, "spsso", "signing")]
        except KeyError:
            return []

    def _sp_slo(self, sp: str | None, binding: str, response: bool) -> tuple[str, str] | None:
        """(binding, URL) of the SP's SingleLogoutService, ``binding`` if it has it, else the
        other; a response goes to its ResponseLocation when there is one."""
        for candidate in (binding, *(b for b in BINDINGS.values() if b != binding)):
            try:
                services = self.server.metadata.single_logout_service(sp, candidate, "spsso")
            except (KeyError, UnknownSystemEntity, UnsupportedBinding):
                services = None
            if services:
                service = services[0]
                location = (response and service.get("response_location")) or service["location"]
                return candidate, location
        return None

    def _logout_request(self, request: Request, values: dict[str, str], binding: str, lang: str):
        """The SP logs the user out here (she logged out at the proxy or an application)."""
        try:
            parsed = self.server.parse_logout_request(values["SAMLRequest"], binding)
        except Exception as exc:
            raise self._refused(f"{type(exc).__name__}: {exc}", lang) from None
        message = parsed.message if parsed is not None else None
        sp = message.issuer.text.strip() if message is not None and message.issuer else None
        if message is None or message.name_id is None:
            raise self._refused("not a LogoutRequest with a NameID", lang)
        why = unsigned_reason(self.server, self._sp_certs(sp), values, "SAMLRequest", binding)
        if why:
            raise self._refused(why, lang)
        if message.destination != self.slo_urls[binding]:
            raise self._refused(f"Destination {message.destination}", lang)
        answer_to = self._sp_slo(sp, binding, response=True)
        if answer_to is None:
            raise self._refused(f"{sp} has no SingleLogoutService", lang)
        session = self._session(request)
        given = (session[1]["sps"].get(sp) if session is not None else None) or {}
        indexes = [index.text for index in message.session_index or []]
        matched = given.get("name_id") == message.name_id.text and (
            not indexes or given.get("session_index") in indexes
        )
        status = None if matched else status_message_factory(
            "no session of that user here", STATUS_UNKNOWN_PRINCIPAL, STATUS_REQUESTER
        )  # fmt: skip
        answer = self.server.create_logout_response(
            message, bindings=[answer_to[0]], status=status, sign=answer_to[0] == BINDING_HTTP_POST,
            **SHA256_EVERYWHERE_ARGS,
        )  # fmt: skip
        response = send_message(self.server, answer_to[0], "SAMLResponse", answer, answer_to[1],
                                values.get("RelayState", ""), lang)  # fmt: skip
        if matched:
            response.delete_cookie(self.session_cookie, path="/idp")
        received = {
            "received": "LogoutRequest",
            "binding": binding,
            "issuer": sp,
            "signature_verified": True,
            "name_id": message.name_id.text,
            "name_id_format": message.name_id.format,
            "session_index": indexes,
            "matched_session": matched,
        }
        self._set_cookie(response, self.logout_cookie, received, None)
        return response

    def logout(self, request: Request, lang: str) -> Response:
        """The user logs out here: the session ends, and the SP it answered (the proxy) gets a
        signed LogoutRequest (``?binding=post`` for HTTP-POST, HTTP-Redirect otherwise)."""
        session = self._session(request)
        sps = session[1]["sps"] if session is not None else {}
        post = request.values.get("binding") == "post"
        binding = BINDING_HTTP_POST if post else BINDING_HTTP_REDIRECT
        target = next(((sp, given, found) for sp, given in sps.items()
                       if (found := self._sp_slo(sp, binding, response=False))), None)  # fmt: skip
        if target is None:
            response = render_page("idp_loggedout.html", lang, idp_title=self.title,
                                   had_session=session is not None, codes=None)  # fmt: skip
            response.delete_cookie(self.session_cookie, path="/idp")
            return response
        sp, given, (binding, destination) = target
        name_id = NameID(text=given["name_id"], format=given.get("name_id_format"),
                         name_qualifier=given.get("name_qualifier"),
                         sp_name_qualifier=given.get("sp_name_qualifier"))  # fmt: skip
        index = given.get("session_index")
        request_id, message = self.server.create_logout_request(
            destination, sp, name_id=name_id, session_indexes=[index] if index else None,
            sign=binding == BINDING_HTTP_POST, **SHA256_EVERYWHERE_ARGS,
        )  # fmt: skip
        response = send_message(self.server, binding, "SAMLRequest", message, destination,
                                "idp-logout", lang)  # fmt: skip
        response.delete_cookie(self.session_cookie, path="/idp")  # ended here, whatever comes
        self._set_cookie(response, self.pending_cookie, {"id": request_id, "sp": sp, "lang": lang},
                         LOGOUT_MAX_AGE)  # fmt: skip
        return response

    def _logout_response(self, request: Request, values: dict[str, str], binding: str, lang: str):
        """The SP's answer to the LogoutRequest sent from ``/idp/logout``."""
        pending = self.cookie.loads(request.cookies.get(self.pending_cookie), LOGOUT_MAX_AGE) or {}
        lang = pending.get("lang", lang)
        sp = pending.get("sp")
        expected = {"issuer": sp, "request_id": pending.get("id"),
                    "destination": self.slo_urls[binding]}  # fmt: skip
        _, codes = self._verified_answer(self.server, self._sp_certs(sp), values, binding,
                                         expected, lang)  # fmt: skip
        response = render_page("idp_loggedout.html", lang, idp_title=self.title,
                               had_session=True, codes=codes)  # fmt: skip
        response.delete_cookie(self.pending_cookie, path="/idp")
        received = {"received": "LogoutResponse", "binding": binding, "issuer": sp,
                    "status": codes, "signature_verified": True}  # fmt: skip
        self._set_cookie(response, self.logout_cookie, received, None)
        return response

    def _name_id(self, user: DemoUser, sp_entity_id: str, requested_format: str) -> NameID:
        """Persistent by default (DOMAIN.md §8): a pairwise pseudonym, derived, never stored."""
        if requested_format == NAMEID_FORMAT_TRANSIENT:
            return NameID(format=NAMEID_FORMAT_TRANSIENT, text="_" + secrets.token_hex(16))
        pseudonym = hmac.new(
            self.name_id_secret, f"{user.username}\0{sp_entity_id}".encode(), hashlib.sha256
        ).hexdigest()
        return NameID(
            format=NAMEID_FORMAT_PERSISTENT,
            name_qualifier=self.entity_id,
            sp_name_qualifier=sp_entity_id,
            text=pseudonym,
        )

    def _login_form(
        self,
        saml_request: str,
        relay_state: str,
        binding: str,
        lang: str,
        *,
        bad_login: bool = False,
        username: str = "",
        session: tuple[DemoUser, dict] | None = None,
    ) -> Response:
        return render_page(
            "idp_login.html",
            lang,
            login_url=self.login_url,
            idp_title=self.title,
            hidden={"SAMLRequest": saml_request, "RelayState": relay_state, "binding": binding},
            bad_login=bad_login,
            username=username,
            session_user=session[0] if session is not None else None,
            logout_url=f"{self.base_url}/idp/logout" + ("?lang=en" if lang == "en" else ""),
            users=sorted(self.users.values(), key=lambda user: user.username),
            shared_password=_shared_password(self.users.values()),
        )


#: The levels a demo user's password login has: loa2 or loa3, in either profile's URIs.
SUPPORTED_LOAS = (
    "http://id.elegnamnden.se/loa/1.0/loa3",
    "http://id.elegnamnden.se/loa/1.0/loa2",
    "http://id.sambi.se/loa/loa3",
    "http://id.sambi.se/loa/loa2",
)


def requested_loa(authn_request: Any) -> str:
    """The first requested class the demo IdP can do (DOMAIN.md §5: exact), else loa3.

    Like many real IdPs it does not refuse a level it cannot give: asked only for loa4 it still
    answers loa3, which is what the proxy must catch (a weaker level is never passed on).
    """
    requested = authn_request.requested_authn_context
    refs = requested.authn_context_class_ref if requested is not None else []
    asked = [ref.text.strip() for ref in refs if ref.text]
    return next((uri for uri in asked if uri in SUPPORTED_LOAS), DEFAULT_LOA)


def _true(value: Any) -> bool:
    """An xs:boolean attribute as pysaml2 hands it over (a string, a bool or None)."""
    return str(value).lower() in ("true", "1")


def _shared_password(users: Iterable[DemoUser]) -> str | None:
    passwords = {user.password for user in users}
    return passwords.pop() if len(passwords) == 1 else None


def make_app(
    base_url: str,
    key_file: str | Path,
    cert_file: str | Path,
    metadata_files: Sequence[str | Path],
    users: Iterable[DemoUser] | None = None,
    organisation: str | None = None,
    title: str = "Demo-IdP",
    answer_loa: str | None = None,
) -> DemoIdP:
    """The demo IdP as a WSGI application (``users`` defaults to demo_users.yaml, all of them
    (``organisation`` None or ``*``), or those whose ``idp`` is ``organisation``)."""
    return DemoIdP(
        base_url, key_file, cert_file, metadata_files, users, organisation, title, answer_loa
    )


def create_app() -> DemoIdP:
    """gunicorn factory: ``gunicorn 'satosa_efos.simulators.demo_idp:create_app()'``.

    Reads DEMO_IDP_BASE_URL, DEMO_IDP_KEY, DEMO_IDP_CERT, DEMO_IDP_METADATA (SP metadata
    files separated by ``os.pathsep``), and optionally DEMO_IDP_ORGANISATION (serve only that
    organisation's demo users; ``*`` for all), DEMO_IDP_TITLE (the name on its pages) and
    DEMO_IDP_ANSWER_LOA (answer this LoA whatever was asked; for downgrade tests).
    """
    return make_app(
        os.environ["DEMO_IDP_BASE_URL"],
        os.environ["DEMO_IDP_KEY"],
        os.environ["DEMO_IDP_CERT"],
        split_paths(os.environ.get("DEMO_IDP_METADATA", "")),
        organisation=os.environ.get("DEMO_IDP_ORGANISATION") or None,
        title=os.environ.get("DEMO_IDP_TITLE") or "Demo-IdP",
        answer_loa=os.environ.get("DEMO_IDP_ANSWER_LOA") or None,
    )


def dispatch(
    routes: dict[str, Any],
    environ: dict,
    start_response: Any,
    home_url: Any = None,
) -> Iterable[bytes]:
    """Both demo peers' WSGI entry: route by path; refusals become error pages, never traces.

    ``home_url(lang)``, when given, puts a link back to the start page on error pages.
    """
    request = Request(environ)
    lang = pick_lang(request)
    home = {"home_url": home_url(lang)} if home_url else {}
    try:
        handler = routes.get(request.path)
        if handler is None:
            raise NotFound()
        response = handler(request, lang)
    except PageError as error:
        response = error_page(error, lang, **home)
    except HTTPException as error:
        response = error_page(PageError.from_http(error), lang, **home)
    return response(environ, start_response)


def split_paths(value: str) -> list[str]:
    return [part for part in value.split(os.pathsep) if part]


# --- page helpers shared by both demo peers --------------------------------------------------


class PageError(Exception):
    """A refusal shown as a page: HTTP status, stable code (shown and logged), Swedish, English."""

    TITLES = {
        400: ("Felaktig begäran", "Bad request"),
        401: ("Inloggningen nekades", "Login refused"),
        404: ("Sidan finns inte", "Page not found"),
    }

    def __init__(
        self,
        status: int,
        code: str,
        swedish: str,
        english: str,
        detail: str = "",
        lang: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail or english}")
        self.status = status
        self.code = code
        self.title = self.TITLES.get(status, ("Fel", "Error"))
        self.message = (swedish, english)
        self.detail = detail
        self.lang = lang  # when known better than the request's (e.g. from a cookie)

    @classmethod
    def from_http(cls, error: HTTPException) -> PageError:
        swedish, english = "Adressen finns inte här.", "There is no such address here."
        if error.code != 404:
            swedish, english = "Begäran kan inte hanteras här.", "This request is not handled here."
        return cls(error.code or 400, f"http_{error.code}", swedish, english)


@pass_context
def _translate(context: Any, swedish: str, english: str) -> str:
    """``t("svenska", "English")`` in templates: Swedish first, English when ``lang=en``."""
    return english if context.get("lang") == "en" else swedish


TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.globals["t"] = _translate


def _breakable(value: Any) -> Markup:
    """``{{ uri | breakable }}``: a URI may wrap after a single slash (``<wbr>``), not mid-word."""
    return Markup("/<wbr>").join(re.split(r"(?<!/)/(?!/)", str(value)))  # join escapes


TEMPLATES.filters["breakable"] = _breakable


def pick_lang(request: Request) -> str:
    return "en" if request.values.get("lang") == "en" else "sv"


def render_page(template: str, lang: str, *, status: int = 200, **context: Any) -> Response:
    html = TEMPLATES.get_template(template).render(lang=lang, **context)
    return Response(
        html,
        status=status,
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def login_json(login: dict[str, Any] | None) -> Response:
    """What a demo application received at its last login, as JSON for tests (401 if none)."""
    if login is None:
        body, status = {"error": "not_logged_in"}, 401
    else:
        body, status = {key: value for key, value in login.items() if key != "iat"}, 200
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def error_page(error: PageError, lang: str, home_url: str | None = None) -> Response:
    logger.info("error page %s: %s", error.code, error)
    lang = error.lang or lang
    return render_page("error.html", lang, status=error.status, error=error, home_url=home_url)


def autopost_page(url: str, field: str, xml: str, relay_state: str, lang: str) -> Response:
    """The HTTP-POST binding: a form the browser submits at once (a button without script)."""
    fields = {field: base64.b64encode(xml.encode("utf-8")).decode("ascii")}
    if relay_state:
        fields["RelayState"] = relay_state
    return render_page("autopost.html", lang, url=url, fields=fields)
