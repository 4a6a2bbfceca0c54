"""A demo OIDC application (relying party; demo only, not a real service) that logs in through
the proxy's OP with the authorization code flow and PKCE, using the ``oic`` client library.

It shows what an OIDC application receives: the ID token's claims (``sub``, ``acr``, ``amr``,
``auth_time``) and the userinfo claims under their OIDC names (DOMAIN.md §4), and offers them as
``/rp/claims.json`` for tests. It is a public client (no secret), registered in
``conf/demo/applications.yaml`` as ``demo-oidc-app``.

Like the SAML demo application it keeps nothing in worker memory: the pending request (``state``,
``nonce`` and the PKCE ``code_verifier``) and the last login live in cookies sealed with AES-GCM
(the verifier is a secret: signed alone, the browser could read it), so any worker or a restart
continues. Every check a relying party owes is made: ``state`` against the cookie, the ID token's
signature against the OP's JWKS, ``iss``, ``aud``, ``exp`` and ``nonce``, and userinfo's ``sub``
against the ID token's (OIDC Core §3.1.3.7, §5.3.2).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from oic.oic import Client
from oic.oic.message import (
    AccessTokenResponse,
    AuthorizationResponse,
    OpenIDSchema,
    RegistrationResponse,
)
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from satosa_efos.simulators.demo_idp import (
    CookieSetter,
    PageError,
    derive_secret,
    dispatch,
    login_json,
    render_page,
)

logger = logging.getLogger(__name__)

CLIENT_ID = "demo-oidc-app"
PENDING_COOKIE = "demo_rp_request"
LOGIN_COOKIE = "demo_rp_login"
#: The last logout this browser saw here (RP-initiated or front-channel), for the page and tests.
LOGOUT_COOKIE = "demo_rp_logout"
PENDING_MAX_AGE = 600  # seconds a user may spend at the proxy and the IdP
CLOCK_SKEW_SECONDS = 60

#: What the start page offers to ask for in ``acr_values`` (empty: the application's default).
ACR_CHOICES = (
    "",
    "http://id.sambi.se/loa/loa3",
    "http://id.elegnamnden.se/loa/1.0/loa3",
    "http://id.elegnamnden.se/loa/1.0/loa4",
)


class SealedCookie(CookieSetter):
    """JSON in a cookie, encrypted and authenticated (AES-GCM): nobody reads or forges it."""

    def __init__(self, secret: bytes) -> None:
        self.aead = AESGCM(secret[:32])

    def dumps(self, payload: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        body = json.dumps(dict(payload, iat=int(time.time()))).encode()
        sealed = nonce + self.aead.encrypt(nonce, body, b"demo-rp")
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def loads(self, value: str | None, max_age: int | None = None) -> dict[str, Any] | None:
        if not value:
            return None
        try:
            sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            payload = json.loads(self.aead.decrypt(sealed[:12], sealed[12:], b"demo-rp"))
        except (ValueError, InvalidTag):
            return None
        if max_age is not None and time.time() - payload.get("iat", 0) > max_age:
            return None
        return payload


class DemoRP:
    """The WSGI application; one instance per gunicorn worker, holding no login state."""

    def __init__(self, base_url: str, issuer: str, client_id: str, cookie_key_file: str | Path):
        self.base_url = base_url.rstrip("/")
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.redirect_uri = f"{self.base_url}/rp/callback"
        self.cookie = SealedCookie(derive_secret(cookie_key_file, "demo-rp cookies"))
        self.secure = self.base_url.startswith("https://")
        self._client: Client | None = None
        self.routes = {
            "/": self.start,
            "/rp": self.start,
            "/rp/": self.start,
            "/rp/login": self.login,
            "/rp/callback": self.callback,
            "/rp/loggedin": self.loggedin,
            "/rp/logout": self.logout,
            "/rp/loggedout": self.loggedout,
            "/rp/frontchannel_logout": self.frontchannel_logout,
            "/rp/claims.json": self.claims_json,
            "/rp/logout.json": self.logout_json,
        }

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        return dispatch(self.routes, environ, start_response, home_url=self._home)

    def client(self) -> Client:
        """The oic client, set up from the OP's discovery document on first use (not at start,
        so the RP may start before the proxy)."""
        if self._client is None:
            self._client = oidc_client(self.issuer, self.client_id, self.redirect_uri)
        return self._client

    def _home(self, lang: str) -> str:
        return f"{self.base_url}/" + ("?lang=en" if lang == "en" else "")

    # --- endpoints ---------------------------------------------------------------------------

    def start(self, request: Request, lang: str) -> Response:
        return render_page(
            "rp_start.html",
            lang,
            switch_url=f"{self.base_url}/" + ("" if lang == "en" else "?lang=en"),
            login_url=f"{self.base_url}/rp/login",
            acr_choices=ACR_CHOICES,
            logout=self.cookie.loads(request.cookies.get(LOGOUT_COOKIE)),
        )

    def login(self, request: Request, lang: str) -> Response:
        """Send the browser to the OP's authorization endpoint (code flow, PKCE S256)."""
        try:
            client = self.client()
        except Exception as exc:  # the OP is down or still starting: a page, not a hung worker
            logger.info("OP discovery failed: %s: %s", type(exc).__name__, exc)
            self._client = None
            raise PageError(
                503,
                "op_unavailable",
                "Inloggningstjänsten svarar inte just nu. Försök igen om en stund.",
                "The login service does not answer right now. Please try again in a while.",
                detail=type(exc).__name__,
            ) from None
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        pkce, verifier = client.add_code_challenge()
        args = {
            "client_id": self.client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": self.redirect_uri,
            "state": state,
            "nonce": nonce,
            **pkce,
        }
        acr = request.values.get("acr", "")
        if acr:
            args["acr_values"] = acr
        if lang == "en":
            args["ui_locales"] = "en"
        url = client.construct_AuthorizationRequest(request_args=args).request(
            client.authorization_endpoint
        )
        response = redirect(url, code=303)
        pending = {"state": state, "nonce": nonce, "verifier": verifier, "lang": lang}
        self._set_cookie(response, PENDING_COOKIE, pending, PENDING_MAX_AGE)
        return response

    def callback(self, request: Request, lang: str) -> Response:
        """Check the answer, redeem the code with the verifier, verify the ID token, fetch
        userinfo; keep the result in a cookie and show it (303, so a reload redeems nothing)."""
        pending = self.cookie.loads(request.cookies.get(PENDING_COOKIE), PENDING_MAX_AGE) or {}
        lang = pending.get("lang", lang)
        if not pending or request.args.get("state") != pending.get("state"):
            raise PageError(
                401,
                "state_mismatch",
                "Svaret hör inte till någon inloggning som startats i den här webbläsaren.",
                "The answer belongs to no login started in this browser.",
                lang=lang,
            )
        if "error" in request.args:
            raise PageError(
                401,
                "oidc_error",
                "Inloggningstjänsten svarade med ett fel.",
                "The login service answered with an error.",
                detail=f"{request.args['error']}: {request.args.get('error_description', '')}",
                lang=lang,
            )
        login = self._redeem(request, pending, lang)
        response = redirect(self._loggedin_url(lang), code=303)
        response.headers["Cache-Control"] = "no-store"
        response.delete_cookie(PENDING_COOKIE, path="/rp")
        self._set_cookie(response, LOGIN_COOKIE, login, None)
        return response

    def _redeem(self, request: Request, pending: dict[str, Any], lang: str) -> dict[str, Any]:
        client = self.client()
        state = pending["state"]
        try:
            client.parse_response(
                AuthorizationResponse, info=request.query_string.decode(), sformat="urlencoded"
            )
            tokens = client.do_access_token_request(
                state=state,
                request_args={
                    "code": request.args["code"],
                    "redirect_uri": self.redirect_uri,
                    "client_id": self.client_id,
                    "code_verifier": pending["verifier"],
                },
                authn_method="",
                skew=CLOCK_SKEW_SECONDS,
            )
            if not isinstance(tokens, AccessTokenResponse) or "id_token" not in tokens:
                raise ValueError(f"token endpoint answered {tokens.to_dict()}")
            id_token = tokens["id_token"]  # signature, iss, aud, exp checked by oic
            if id_token["iss"] != self.issuer or id_token.get("nonce") != pending["nonce"]:
                raise ValueError("ID token iss or nonce is not this login's")
            userinfo = client.do_user_info_request(state=state, method="GET")
            if not isinstance(userinfo, OpenIDSchema) or userinfo["sub"] != id_token["sub"]:
                raise ValueError("userinfo is not about the ID token's subject")
        except Exception as exc:
            logger.info("refused OIDC answer: %s: %s", type(exc).__name__, exc)
            raise PageError(
                401,
                "invalid_response",
                "Svaret från inloggningstjänsten kunde inte verifieras.",
                "The answer of the login service could not be verified.",
                detail=type(exc).__name__,
                lang=lang,
            ) from None
        finally:
            client.grant.pop(state, None)  # oic keeps grants in memory: nothing per login here
        return {
            "issuer": id_token["iss"],
            "id_token": {k: v for k, v in id_token.to_dict().items() if k != "nonce"},
            "id_token_jwt": tokens.get("id_token_jwt") or id_token.jwt,
            "userinfo": userinfo.to_dict(),
        }

    def loggedin(self, request: Request, lang: str) -> Response:
        login = self.cookie.loads(request.cookies.get(LOGIN_COOKIE))
        if login is None:
            return redirect(self._home(lang), code=303)
        return render_page(
            "rp_loggedin.html",
            lang,
            login=login,
            logout_url=f"{self.base_url}/rp/logout" + ("?lang=en" if lang == "en" else ""),
            switch_url=self._loggedin_url("sv" if lang == "en" else "en"),
        )

    def logout(self, request: Request, lang: str) -> Response:
        """RP-initiated logout at the OP's ``end_session_endpoint`` (OpenID Connect RP-Initiated
        Logout 1.0), with the ID token as hint; ``?local=1`` forgets the login here only."""
        login = self.cookie.loads(request.cookies.get(LOGIN_COOKIE))
        end_session = None
        if login is not None and not request.values.get("local"):
            try:
                end_session = self.client().provider_info.get("end_session_endpoint")
            except Exception as exc:  # the OP is down: at least forget the login here
                logger.info("OP discovery failed: %s: %s", type(exc).__name__, exc)
                self._client = None
        if end_session:
            state = secrets.token_urlsafe(24)
            params = {
                "id_token_hint": login["id_token_jwt"],
                "client_id": self.client_id,
                "post_logout_redirect_uri": f"{self.base_url}/rp/loggedout",
                "state": state,
            }
            response = redirect(f"{end_session}?{urlencode(params)}", code=303)
            self._set_cookie(response, PENDING_COOKIE, {"logout_state": state, "lang": lang},
                             PENDING_MAX_AGE)  # fmt: skip
        else:
            response = redirect(self._home(lang), code=303)
            response.delete_cookie(PENDING_COOKIE, path="/rp")
        response.delete_cookie(LOGIN_COOKIE, path="/rp")
        return response

    def loggedout(self, request: Request, lang: str) -> Response:
        """``post_logout_redirect_uri``: back from the OP, with the ``state`` sent there."""
        pending = self.cookie.loads(request.cookies.get(PENDING_COOKIE), PENDING_MAX_AGE) or {}
        lang = pending.get("lang", lang)
        ok = bool(pending.get("logout_state")) and request.args.get("state") == pending.get(
            "logout_state"
        )
        response = redirect(self._home(lang), code=303)
        response.delete_cookie(PENDING_COOKIE, path="/rp")
        self._set_cookie(response, LOGOUT_COOKIE, {"received": "end_session", "state_ok": ok},
                         None, path="/")  # fmt: skip
        return response

    def frontchannel_logout(self, request: Request, lang: str) -> Response:
        """OpenID Connect Front-Channel Logout 1.0 §2: the OP, in a frame, says this session at
        the OP ended (``iss`` and ``sid``); the login here ends if it is that session's."""
        login = self.cookie.loads(request.cookies.get(LOGIN_COOKIE))
        sid = request.args.get("sid")
        matched = (
            login is not None
            and request.args.get("iss") == self.issuer
            and bool(sid)
            and login["id_token"].get("sid") == sid
        )
        response = Response("", content_type="text/plain", headers={"Cache-Control": "no-store"})
        if matched:
            response.delete_cookie(LOGIN_COOKIE, path="/rp")
        received = {"received": "frontchannel_logout", "sid": sid, "matched_login": matched}
        self._set_cookie(response, LOGOUT_COOKIE, received, None, path="/")
        return response

    def logout_json(self, request: Request, lang: str) -> Response:
        return login_json(self.cookie.loads(request.cookies.get(LOGOUT_COOKIE)))

    def claims_json(self, request: Request, lang: str) -> Response:
        """The last login in this browser (ID token claims, the ID token itself, userinfo)."""
        return login_json(self.cookie.loads(request.cookies.get(LOGIN_COOKIE)))

    def _loggedin_url(self, lang: str) -> str:
        return f"{self.base_url}/rp/loggedin" + ("?lang=en" if lang == "en" else "")

    def _set_cookie(
        self,
        response: Response,
        name: str,
        payload: dict[str, Any],
        max_age: int | None,
        path: str = "/rp",
    ) -> None:
        # The callback is a top-level GET from the OP: a Lax cookie comes along.
        self.cookie.set(response, name, payload, max_age=max_age, path=path, secure=self.secure,
                        samesite="Lax")  # fmt: skip


def oidc_client(
    issuer: str, client_id: str, redirect_uri: str, secret: str | None = None
) -> Client:
    """An oic client of the proxy's OP: discovery and JWKS fetched, the registration (from
    applications.yaml) stored; public (PKCE, S256) unless it has a secret."""
    client = Client(
        client_id=client_id,
        client_authn_method=CLIENT_AUTHN_METHOD,
        config={"code_challenge": {"method": "S256", "length": 64}},
    )
    client.provider_config(issuer)  # discovery and the JWKS into the key jar
    client.store_registration_info(
        RegistrationResponse(
            client_id=client_id,
            client_secret=secret,
            redirect_uris=[redirect_uri],
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
        )
    )
    client.redirect_uris = [redirect_uri]
    return client


def create_app() -> DemoRP:
    """gunicorn factory: ``gunicorn 'satosa_efos.simulators.demo_rp:create_app()'``.

    Reads DEMO_RP_BASE_URL, DEMO_RP_ISSUER (the proxy), DEMO_RP_CLIENT_ID and
    DEMO_RP_COOKIE_KEY (a file with a random secret).
    """
    return DemoRP(
        os.environ["DEMO_RP_BASE_URL"],
        os.environ["DEMO_RP_ISSUER"],
        os.environ.get("DEMO_RP_CLIENT_ID", CLIENT_ID),
        os.environ["DEMO_RP_COOKIE_KEY"],
    )
