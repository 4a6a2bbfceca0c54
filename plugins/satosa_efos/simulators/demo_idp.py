"""A demo organisation IdP (demo only, not a real service): pysaml2 behind a tiny WSGI app.

It stands in for a municipality's ADFS or a region's own IdP in ``make run`` and in the flow and
browser tests. It keeps no server-side state: the login form carries the SAMLRequest, RelayState
and binding in hidden fields and ``/idp/login`` parses the request again, so any gunicorn worker
(or a restarted one) can finish any login.

pysaml2 signs with SHA-1 unless ``signing_algorithm`` / ``digest_algorithm`` are set in the
*service* section of the configuration (``Entity`` reads them in its "idp"/"sp" context and uses
them as the default of every ``sign_alg`` / ``digest_alg`` argument); metadata signing reads the
top-level ones. ``SHA256_EVERYWHERE`` goes into both places.

The page helpers at the end of this module are shared with ``demo_sp``: both demo peers have
one look and one "Demo – inte en riktig tjänst" banner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context
from markupsafe import Markup
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import Config, IdPConfig
from saml2.metadata import entity_descriptor, metadata_tostring_fix
from saml2.saml import (
    NAME_FORMAT_URI,
    NAMEID_FORMAT_PERSISTENT,
    NAMEID_FORMAT_TRANSIENT,
    NAMEID_FORMAT_UNSPECIFIED,
    NameID,
)
from saml2.samlp import STATUS_INVALID_NAMEID_POLICY, STATUS_NO_PASSIVE
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary
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


def idp_config(
    base_url: str,
    key_file: str | Path,
    cert_file: str | Path,
    metadata_files: Sequence[str | Path],
    title: str = "Demo-IdP (organisation)",
) -> dict[str, Any]:
    """The pysaml2 IdP configuration; ``metadata_files`` name the SPs (the proxy) it answers."""
    base_url = base_url.rstrip("/")
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
                    ]
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
    base_url: str, key_file: str | Path, cert_file: str | Path, path: str | Path
) -> Path:
    """Write the IdP's metadata XML; it needs no peer metadata, so it can be written first."""
    return write_entity_metadata(IdPConfig, idp_config(base_url, key_file, cert_file, []), path)


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


class DemoIdP:
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
        self.routes = {
            "/idp/sso/redirect": self.sso_redirect,
            "/idp/sso/post": self.sso_post,
            "/idp/login": self.login,
            "/idp/metadata": self.metadata,
        }

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        return dispatch(self.routes, environ, start_response)

    # --- endpoints ---------------------------------------------------------------------------

    def sso_redirect(self, request: Request, lang: str) -> Response:
        return self._show_login(request.values, "redirect", lang)

    def sso_post(self, request: Request, lang: str) -> Response:
        return self._show_login(request.values, "post", lang)

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
        if "username" not in form:  # the language switch re-posts the form without credentials
            return self._login_form(form["SAMLRequest"], relay_state, binding, lang)
        user = self.users.get(form.get("username", "").strip())
        password = form.get("password", "").encode()
        if user is None or not hmac.compare_digest(password, user.password.encode()):
            username = form.get("username", "")
            return self._login_form(
                form["SAMLRequest"], relay_state, binding, lang, bad_login=True, username=username
            )
        return self._answer(saml_request, user, relay_state, lang)

    # --- SAML --------------------------------------------------------------------------------

    def _show_login(self, values: Any, binding: str, lang: str) -> Response:
        saml_request = values.get("SAMLRequest", "")
        parsed = self._parse(saml_request, binding)
        if str(parsed.message.is_passive).lower() in ("true", "1"):
            # IsPassive: no page may be shown, and the demo IdP has no sessions to log in from.
            args = self.server.response_args(parsed.message, [BINDING_HTTP_POST])
            response = self.server.create_error_response(
                args["in_response_to"], args["destination"],
                (STATUS_NO_PASSIVE, "the demo IdP has no session to log in from"), sign=True,
            )  # fmt: skip
            relay_state = values.get("RelayState", "")
            return autopost_page(args["destination"], "SAMLResponse", str(response), relay_state,
                                 lang)  # fmt: skip
        return self._login_form(saml_request, values.get("RelayState", ""), binding, lang)

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

    def _answer(self, saml_request: Any, user: DemoUser, relay_state: str, lang: str) -> Response:
        """Build the signed Response and auto-POST it to the SP's ACS."""
        args = self.server.response_args(saml_request.message, [BINDING_HTTP_POST])
        args.pop("binding", None)
        policy = args.pop("name_id_policy", None)
        requested_format = getattr(policy, "format", None) or NAMEID_FORMAT_UNSPECIFIED
        if requested_format not in (NAMEID_FORMAT_UNSPECIFIED, *NAME_ID_FORMATS):
            unsupported = (STATUS_INVALID_NAMEID_POLICY, f"NameID format {requested_format}")
            response = self.server.create_error_response(
                args["in_response_to"], args["destination"], unsupported, sign=True
            )
        else:
            response = self.server.create_authn_response(
                identity=user.attributes,
                userid=user.username,
                name_id=self._name_id(user, args["sp_entity_id"], requested_format),
                authn={"class_ref": self.answer_loa or requested_loa(saml_request.message)},
                sign_response=True,
                sign_assertion=True,
                **args,
            )
        return autopost_page(args["destination"], "SAMLResponse", str(response), relay_state, lang)

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
    ) -> Response:
        return render_page(
            "idp_login.html",
            lang,
            login_url=self.login_url,
            idp_title=self.title,
            hidden={"SAMLRequest": saml_request, "RelayState": relay_state, "binding": binding},
            bad_login=bad_login,
            username=username,
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
