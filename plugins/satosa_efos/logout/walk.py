"""One single logout, from the request that starts it to the page that lists what happened.

Started by a SAML application's LogoutRequest (``frontends/saml_slo.py``), an OIDC application's
RP-initiated logout (``frontends/oidc_logout.py``) or the user at ``<BASE>/logout``:

1. The session ends at once: its record is deleted from the store and the cookie cleared, so
   whatever happens next, the proxy answers no application from it any more.
2. Every *other* application of the session is told, front-channel, each in its own hidden
   frame of the proxy's logout page (as Shibboleth's IdP and the OIDC Front-Channel Logout spec
   do): a SAML application gets a signed LogoutRequest at its SingleLogoutService (from its
   metadata) and answers the proxy with a LogoutResponse inside the frame, which the proxy
   verifies and notes; an OIDC application's ``frontchannel_logout_uri`` is loaded with ``iss``
   and ``sid``. One application that hangs or fails cannot stop the others, and the page goes on
   after ``logout_wait`` seconds (with JavaScript; without it, the user presses Continue).
3. The result page lists what was logged out, what was only told (OIDC gives no answer), what did
   not answer and what cannot be logged out from here, and sends the initiating application its
   answer: a signed LogoutResponse (``PartialLogout`` unless every application confirmed), or the
   OIDC application's registered ``post_logout_redirect_uri`` with its ``state``.

The walk's facts live in the session store as a short-lived record under a random logout id (in
the frame and result URLs), and each application's answer as a record of its own, so any worker
of any node continues any logout, and concurrent answers never overwrite each other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from satosa.response import Response, SeeOther

from satosa_efos.audit import audit_logout
from satosa_efos.errors import BadRequest
from satosa_efos.logout.registry import proxy_parts
from satosa_efos.sessions.service import SsoService
from satosa_efos.sessions.sso import SsoSession, logout_token
from satosa_efos.sessions.store import StoreUnavailable
from satosa_efos.web.lang import page_lang
from satosa_efos.web.render import render
from satosa_efos.web.sso_texts import TEXTS

logger = logging.getLogger(__name__)

#: Seconds a logout's record (and the applications' answers) is kept.
RECORD_TTL = 600
#: How the session page and the logout pages name a login method.
METHODS = {
    "sv": {
        "own_idp": "organisationens egen inloggning",
        "efos_mobile": "Mobilt Efos",
        "inera_idp": "SITHS eID (Inera)",
    },
    "en": {
        "own_idp": "the organisation's own login",
        "efos_mobile": "Mobilt Efos",
        "inera_idp": "SITHS eID (Inera)",
    },
}


def display_name(attributes: dict[str, list[str]]) -> str | None:
    """Who the session belongs to, as a person would say it (never a personnummer)."""
    first = {k: (v[0] if v else "") for k, v in attributes.items()}
    if first.get("displayName"):
        return first["displayName"]
    name = " ".join(p for p in (first.get("givenName"), first.get("surname")) if p)
    return name or first.get("mail") or first.get("userPrincipalName") or None


def _page(html: str, status: str = "200 OK") -> Response:
    return Response(
        html,
        status=status,
        content="text/html; charset=utf-8",
        headers=[("Cache-Control", "no-store")],
    )


def _values(context) -> dict[str, str]:
    request = context.request if isinstance(context.request, dict) else {}
    return {k: v for k, v in request.items() if isinstance(v, str)}


class LogoutWalk:
    def __init__(self, service: SsoService, registries, base_url: str, wait: int) -> None:
        self.service = service
        self.applications = registries.applications
        self.organisations = registries.organisations
        self.base_url = base_url.rstrip("/")
        self.wait = wait

    def endpoints(self) -> list:
        return [
            ("^session$", self.session_page),
            ("^logout$", self.logout_page),
            ("^logout/frame$", self.frame),
            ("^logout/done$", self.done),
        ]

    # -- small helpers --------------------------------------------------------------------------

    @property
    def parts(self):
        return proxy_parts(self.base_url)

    def current(self, context) -> tuple[str | None, SsoSession | None, bool]:
        """(session id, live session, whether the store answered)."""
        try:
            session_id, session = self.service.current(context.cookie)
        except StoreUnavailable as exc:
            logger.warning("SSO store unavailable: %s", exc)
            return self.service.cookie.read(context.cookie), None, False
        return session_id, session, True

    def name(self, application: str | None) -> str:
        app = self.applications.for_requester(application or "")
        return app.name if app is not None else (application or "")

    def organisation_name(self, organisation: str | None, lang: str) -> str:
        found = self.organisations.by_id.get(organisation or "")
        if found is None:
            return organisation or ""
        return (found.name_en or found.name) if lang == "en" else found.name

    @staticmethod
    def _key(logout_id: str) -> str:
        return "logout:" + hashlib.sha256(logout_id.encode()).hexdigest()

    @staticmethod
    def request_id(logout_id: str, index: int) -> str:
        """The ID of the LogoutRequest to notice ``index``: derived, so nothing must be written
        when it is sent, and unguessable without the logout id."""
        mac = hmac.new(logout_id.encode(), f"request:{index}".encode(), hashlib.sha256)
        return "_" + mac.hexdigest()[:40]

    def _url(self, path: str, **params: Any) -> str:
        url = f"{self.base_url}/{path}"
        return f"{url}?{urlencode(params)}" if params else url

    def _record(self, logout_id: str | None) -> dict | None:
        if not logout_id or len(logout_id) > 128:
            return None
        try:
            return self.service.store.get_record(self._key(logout_id))
        except StoreUnavailable as exc:
            logger.warning("SSO store unavailable during logout: %s", exc)
            return None

    # -- 1. start -------------------------------------------------------------------------------

    def start(self, context, initiator: dict[str, Any]) -> Response:
        """End this browser's session and begin telling its applications; the logout page."""
        lang = page_lang(context)
        session_id, session, reachable = self.current(context)
        notices: list[dict[str, Any]] = []
        unsupported: list[str] = []
        if session is not None:
            try:
                self.service.store.delete(session_id)
            except StoreUnavailable as exc:  # it expires by itself; the cookie goes now
                logger.warning("SSO session not deleted (store unavailable): %s", exc)
            for participant in session.participants:
                if participant.application == initiator.get("application"):
                    continue
                adapter = getattr(self.parts, participant.protocol, None)
                notice = adapter.notice(participant) if adapter is not None else None
                if notice is None:
                    unsupported.append(participant.application)
                else:
                    notices.append({**notice, "name": self.name(participant.application)})
        record = {
            "lang": lang,
            "user": display_name(session.attributes) if session else None,
            "had_session": session is not None,
            "store_reachable": reachable,
            "initiator": initiator,
            "notices": notices,
            "unsupported": unsupported,
        }
        audit_logout(
            context,
            session=session,
            # "proxy": the user started at the proxy's own logout page.
            initiator={"saml": "saml", "oidc": "oidc"}.get(initiator.get("protocol"), "user"),
            application=initiator.get("application"),
            notified=[n["application"] for n in notices],
            unsupported=unsupported,
            outcome="success" if reachable else "partial",
        )
        logout_id = secrets.token_urlsafe(32)
        response = None
        if notices:
            try:
                self.service.store.put_record(self._key(logout_id), record, RECORD_TTL)
            except StoreUnavailable as exc:
                logger.warning("single logout cannot tell the applications: %s", exc)
            else:
                response = self._walk_page(logout_id, record)
        if response is None and not notices and not unsupported:
            # Nothing else to tell and nothing to list: straight back to the application.
            response = self._straight_back(initiator)
        if response is None:
            response = self._done_page(record, {})
        response.headers.append(self.service.cookie.clear())
        return response

    def _straight_back(self, initiator: dict[str, Any]) -> Response | None:
        back = self._continuation(initiator, partial=False)
        if back is None:
            return None
        if not back["fields"]:
            return SeeOther(back["url"], headers=[("Cache-Control", "no-store")])
        return _page(render("autopost.html", action=back["url"], fields=back["fields"]))

    def _walk_page(self, logout_id: str, record: dict) -> Response:
        lang = record["lang"]
        frames = [
            {
                "index": i,
                "name": notice["name"],
                "protocol": notice["protocol"],
                "url": notice["url"]
                if notice["protocol"] == "oidc"
                else self._url("logout/frame", l=logout_id, i=i),
            }
            for i, notice in enumerate(record["notices"])
        ]
        html = render(
            "sso_logout.html",
            lang=lang,
            t=TEXTS[lang],
            frames=frames,
            done_url=self._url("logout/done"),
            logout_id=logout_id,
            wait_ms=self.wait * 1000,
        )
        return _page(html)

    # -- 2. the frames ----------------------------------------------------------------------------

    def frame(self, context) -> Response:
        """A SAML application's frame: the signed LogoutRequest, by redirect or by a form."""
        values = _values(context)
        logout_id, index = values.get("l"), values.get("i", "")
        record = self._record(logout_id)
        notices = record["notices"] if record else []
        if not index.isdigit() or int(index) >= len(notices):
            return self._frame_page(None, False, record["lang"] if record else "sv")
        notice = notices[int(index)]
        if notice["protocol"] != "saml" or self.parts.saml is None:
            raise BadRequest("this logout frame has no SAML application")
        outgoing = self.parts.saml.logout_request(
            notice, self.request_id(logout_id, int(index)), f"{logout_id}.{index}"
        )
        if not outgoing.fields:
            return SeeOther(outgoing.url, headers=[("Cache-Control", "no-store")])
        return _page(render("autopost.html", action=outgoing.url, fields=outgoing.fields))

    def notice(self, relay_state: str | None) -> tuple[str, int, dict] | None:
        """(logout id, index, notice) that a LogoutResponse's RelayState names, or None."""
        logout_id, _, index = (relay_state or "").rpartition(".")
        record = self._record(logout_id)
        if record is None or not index.isdigit() or int(index) >= len(record["notices"]):
            return None
        return logout_id, int(index), {**record["notices"][int(index)], "lang": record["lang"]}

    def answered(self, logout_id: str, index: int, ok: bool, detail: str, lang: str) -> Response:
        """An application's verified LogoutResponse: noted, and the frame says so."""
        try:
            self.service.store.put_record(
                f"{self._key(logout_id)}:{index}", {"ok": ok, "detail": detail}, RECORD_TTL
            )
        except StoreUnavailable as exc:
            logger.warning("logout answer not noted (store unavailable): %s", exc)
        return self._frame_page(index, ok, lang)

    def _frame_page(self, index: int | None, ok: bool, lang: str) -> Response:
        """What the frame shows in the end; it tells the logout page (same origin) too."""
        parts = urlsplit(self.base_url)
        html = render(
            "sso_logout_frame.html",
            lang=lang,
            t=TEXTS[lang],
            ok=ok,
            index=index,
            origin=f"{parts.scheme}://{parts.netloc}",
        )
        return _page(html)

    # -- 3. the result --------------------------------------------------------------------------

    def done(self, context) -> Response:
        values = _values(context)
        logout_id = values.get("l")
        record = self._record(logout_id)
        if record is None:
            lang = page_lang(context)
            record = {
                "lang": lang,
                "initiator": {"protocol": "proxy"},
                "notices": [],
                "unsupported": [],
                "had_session": False,
            }
            return self._done_page(record, {})
        results = {}
        for i, notice in enumerate(record["notices"]):
            if notice["protocol"] == "saml":
                try:
                    results[i] = self.service.store.get_record(f"{self._key(logout_id)}:{i}")
                except StoreUnavailable:
                    results[i] = None
        return self._done_page(record, results)

    def _done_page(self, record: dict, results: dict[int, dict | None]) -> Response:
        lang = record["lang"]
        initiator = record["initiator"]
        logged_out, notified, no_answer = [], [], []
        if initiator.get("application"):
            logged_out.append(self.name(initiator["application"]))
        for i, notice in enumerate(record["notices"]):
            if notice["protocol"] == "oidc":
                notified.append(notice["name"])
            elif (results.get(i) or {}).get("ok"):
                logged_out.append(notice["name"])
            else:
                no_answer.append(notice["name"])
        unsupported = [self.name(a) for a in record.get("unsupported") or []]
        partial = bool(no_answer or unsupported)
        back = self._continuation(initiator, partial)
        html = render(
            "sso_logout_done.html",
            lang=lang,
            t=TEXTS[lang],
            partial=partial,
            logged_out=logged_out,
            notified=notified,
            no_answer=no_answer,
            unsupported=unsupported,
            back=back,
            back_name=self.name(initiator.get("application")) if back else None,
        )
        return _page(html)

    def _continuation(self, initiator: dict, partial: bool) -> dict | None:
        """How the initiating application gets its answer: a form, a link, or nothing."""
        adapter = getattr(self.parts, initiator.get("protocol") or "", None)
        if adapter is None or initiator.get("protocol") not in ("saml", "oidc"):
            return None
        outgoing = adapter.continuation(initiator, partial)
        if outgoing is None:
            return None
        return {"url": outgoing.url, "fields": outgoing.fields}

    # -- the pages at the proxy ---------------------------------------------------------------

    def session_page(self, context) -> Response:
        """``<BASE>/session``: who is logged in, how, and to what; "log out everywhere"."""
        lang = page_lang(context)
        session_id, session, reachable = self.current(context)
        t = TEXTS[lang]
        if session is None:
            return _page(
                render(
                    "sso_session.html",
                    lang=lang,
                    t=t,
                    session=None,
                    reachable=reachable,
                    switch_url=self._switch("session", lang),
                )
            )
        moment = dt.datetime.fromtimestamp(session.authn_instant).astimezone()
        html = render(
            "sso_session.html",
            lang=lang,
            t=t,
            session=session,
            reachable=True,
            user=display_name(session.attributes) or t["unknown_user"],
            organisation=self.organisation_name(session.organisation, lang),
            method=METHODS[lang].get(session.method, session.method),
            applications=[self.name(p.application) for p in session.participants],
            since=moment.strftime("%Y-%m-%d %H:%M"),
            loa=session.loa,
            action=self._url("logout"),
            token=logout_token(session_id),
            switch_url=self._switch("session", lang),
        )
        return _page(html)

    def _switch(self, path: str, lang: str) -> str:
        return self._url(path, lang="sv" if lang == "en" else "en")

    def logout_page(self, context) -> Response:
        """``<BASE>/logout``: GET asks, POST (with the session's token) logs out everywhere."""
        values = _values(context)
        session_id, session, reachable = self.current(context)
        initiator = self._initiator(values)
        posted = (context.request_method or "GET").upper() == "POST"
        if (
            posted
            and session is not None
            and hmac.compare_digest(values.get("token", ""), logout_token(session_id))
        ):
            return self.start(context, initiator)
        if session is None:
            if reachable:
                # Nothing to log out here; an OIDC application still gets its user back.
                return self.start(context, initiator)
            lang = page_lang(context)
            return _page(
                render(
                    "sso_session.html",
                    lang=lang,
                    t=TEXTS[lang],
                    session=None,
                    reachable=False,
                    switch_url=self._switch("logout", lang),
                ),
                "503 Service Unavailable",
            )
        return self.confirm_page(context, session_id, session, initiator)

    def confirm_page(
        self, context, session_id: str, session: SsoSession, initiator: dict[str, Any]
    ) -> Response:
        lang = page_lang(context)
        fields = {"token": logout_token(session_id), "lang": lang}
        if initiator.get("protocol") == "oidc":
            fields.update(
                {
                    k: initiator[k]
                    for k in ("client_id", "post_logout_redirect_uri", "state")
                    if initiator.get(k)
                }
            )
        html = render(
            "sso_logout_confirm.html",
            lang=lang,
            t=TEXTS[lang],
            user=display_name(session.attributes) or TEXTS[lang]["unknown_user"],
            applications=[self.name(p.application) for p in session.participants],
            requested_by=self.name(initiator.get("application"))
            if initiator.get("application")
            else None,
            action=self._url("logout"),
            fields=fields,
        )
        return _page(html)

    def _initiator(self, values: dict[str, str]) -> dict[str, Any]:
        """The proxy's own logout, or an OIDC application's confirmed RP-initiated logout."""
        if values.get("client_id") and self.parts.oidc is not None:
            return self.parts.oidc.initiator(
                values["client_id"], values.get("post_logout_redirect_uri"), values.get("state")
            )
        return {"protocol": "proxy"}
