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
3. When the user logged in at a SAML IdP whose metadata has a SingleLogoutService (an
   organisation's own IdP), the browser goes there next, top-level, with a signed LogoutRequest
   naming the IdP's NameID and SessionIndex of the login (:mod:`satosa_efos.backends.
   upstream_slo`); the applications' results are recorded first, so an IdP that never sends
   the browser back loses none of them (``<BASE>/logout/done?l=…`` shows them again). Its
   LogoutResponse comes back to the proxy's SP and is noted.
4. The result page lists what was logged out, what was only told (OIDC gives no answer), what did
   not answer and what cannot be logged out from here, and the organisation's login (logged out,
   did not answer, refused with its status, answer not accepted, or cannot be ended from here);
   and it sends the initiating party its answer: a signed LogoutResponse (``PartialLogout``
   unless everything confirmed), or the OIDC application's registered
   ``post_logout_redirect_uri`` with its ``state``. An IdP that started the logout itself (the
   user logged out there) is the initiating party: it is not asked again, and gets its
   LogoutResponse.

The walk's facts live in the session store as a short-lived record under a random logout id (in
the frame and result URLs, and the RelayState towards the IdP), and each answer as a record of its
own, so any worker of any node continues any logout, and concurrent answers never overwrite each
other.
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
from satosa_efos.config.models import LoginMethod
from satosa_efos.errors import BadRequest, new_error_id
from satosa_efos.logout.registry import proxy_parts
from satosa_efos.saml.response import new_id
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


def deliver(outgoing) -> Response:
    """A signed message on its way through the browser (a :class:`~satosa_efos.logout.saml.
    Outgoing`): a redirect (HTTP-Redirect) or a form that posts itself (HTTP-POST)."""
    if not outgoing.fields:
        return SeeOther(outgoing.url, headers=[("Cache-Control", "no-store")])
    return _page(render("autopost.html", action=outgoing.url, fields=outgoing.fields))


def _status_text(status: str | None, second: str | None) -> str:
    """``Requester / UnknownPrincipal``: a SAML status as a person can read it on the page."""
    return " / ".join(code.rsplit(":", 1)[-1] for code in (status, second) if code)


def _no_record(lang: str) -> dict[str, Any]:
    """The result page's facts when the logout's record is gone (expired, or never written)."""
    return {"lang": lang, "initiator": {"protocol": "proxy"}, "notices": [], "unsupported": [],
            "had_session": False}  # fmt: skip


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
            "upstream": self._upstream(session, initiator),
        }
        audit_logout(
            context,
            session=session,
            # "user": the user started at the proxy's own logout page; "upstream": at the IdP.
            initiator={"saml": "saml", "oidc": "oidc", "upstream": "upstream"}.get(
                initiator.get("protocol"), "user"
            ),
            application=initiator.get("application"),
            notified=[n["application"] for n in notices],
            unsupported=unsupported,
            outcome="success" if reachable else "partial",
        )
        logout_id = secrets.token_urlsafe(32)
        upstream = record["upstream"]
        response = None
        if notices or (upstream and upstream["slo"]):
            try:
                self.service.store.put_record(self._key(logout_id), record, RECORD_TTL)
            except StoreUnavailable as exc:
                logger.warning("single logout cannot tell the applications: %s", exc)
                if upstream:  # its answer could not be matched: not asked at all
                    upstream["slo"] = False
            else:
                if notices:
                    response = self._walk_page(logout_id, record)
                else:
                    response = self._leave_for_upstream(logout_id, record, {})
        if response is None and not notices and not unsupported and not upstream:
            # Nothing else to tell and nothing to list: straight back to the application.
            response = self._straight_back(initiator)
        if response is None:
            response = self._done_page(record, {})
        response.headers.append(self.service.cookie.clear())
        return response

    def _straight_back(self, initiator: dict[str, Any]) -> Response | None:
        outgoing = self._outgoing_continuation(initiator, partial=False)
        return deliver(outgoing) if outgoing is not None else None

    def _upstream(self, session: SsoSession | None, initiator: dict[str, Any]) -> dict | None:
        """The organisation's login (the upstream IdP's session) on this logout: how to end it,
        or that it cannot be ended from here; None when the login had no upstream IdP session
        the proxy could end (Mobilt Efos), or when that IdP started the logout itself."""
        if session is None or initiator.get("protocol") == "upstream":
            return None
        facts = {"organisation": session.organisation, "method": session.method,
                 "entity_id": session.upstream}  # fmt: skip
        upstream = session.upstream_session
        part = self.parts.upstream.get(upstream.backend) if upstream is not None else None
        if part is None:
            if session.method != LoginMethod.OWN_IDP:
                return None
            return {**facts, "slo": False}
        notice = part.notice(session)
        if notice is None:
            return {**facts, "slo": False}
        return {**facts, **notice, "slo": True, "request_id": new_id()}

    def _leave_for_upstream(self, logout_id: str, record: dict, results: dict) -> Response:
        """Record the applications' results, then send the browser to the organisation's IdP
        with the signed LogoutRequest: whatever the IdP does, the results stay readable."""
        upstream = record["upstream"]
        saved = [results.get(i) for i in range(len(record["notices"]))]
        part = self.parts.upstream.get(upstream.get("backend"))
        try:
            self.service.store.put_record(
                f"{self._key(logout_id)}:results", {"results": saved}, RECORD_TTL
            )
        except StoreUnavailable as exc:
            logger.warning("logout results not recorded, the IdP is not asked: %s", exc)
            part = None
        if part is None:
            record = {**record, "upstream": {**upstream, "slo": False}}
            return self._done_page(record, results)
        logger.info("single logout continues at %s", upstream["entity_id"])
        return deliver(part.logout_request(upstream, upstream["request_id"], logout_id))

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
        return deliver(outgoing)

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
            return self._done_page(_no_record(page_lang(context)), {})
        recorded = self._saved(logout_id, "results")
        if recorded is not None:  # the browser went on to the IdP already: what was recorded
            results = dict(enumerate(recorded.get("results") or []))
            return self._done_page(record, results, self._saved(logout_id, "upstream"))
        results = {}
        for i, notice in enumerate(record["notices"]):
            if notice["protocol"] == "saml":
                results[i] = self._saved(logout_id, str(i))
        if (record.get("upstream") or {}).get("slo"):
            return self._leave_for_upstream(logout_id, record, results)
        return self._done_page(record, results)

    def _saved(self, logout_id: str, name: str) -> dict | None:
        """An answer recorded for this logout (an application's, the IdP's, the results)."""
        try:
            return self.service.store.get_record(f"{self._key(logout_id)}:{name}")
        except StoreUnavailable:
            return None

    # -- 3a. the organisation's IdP ----------------------------------------------------------------

    def upstream_pending(self, relay_state: str | None) -> tuple[str, dict] | None:
        """(logout id, the IdP's entry) of the logout a LogoutResponse's RelayState names,
        when the browser was sent to that IdP; else None."""
        record = self._record(relay_state)
        upstream = (record or {}).get("upstream")
        if not upstream or not upstream.get("slo") or self._saved(relay_state, "results") is None:
            return None
        return relay_state, upstream

    def upstream_answered(
        self, logout_id: str, ok: bool, status: str | None, second: str | None
    ) -> Response:
        """The IdP's verified LogoutResponse: noted, and the result page."""
        answer = {"state": "ok" if ok else "status", "detail": _status_text(status, second)}
        try:
            self.service.store.put_record(f"{self._key(logout_id)}:upstream", answer, RECORD_TTL)
        except StoreUnavailable as exc:
            logger.warning("the IdP's logout answer not noted (store unavailable): %s", exc)
        return self._recorded_page(logout_id, answer)

    def upstream_refused(self, context, logout_id: str, detail: str) -> Response:
        """A LogoutResponse for this logout that is not believed (signature, InResponseTo,
        issuer, Destination, age): not noted -- the IdP's own answer may still come -- and
        the result page says so with an error id that is also in the log."""
        error_id = new_error_id()
        logger.warning(
            "single logout at the IdP: %s", detail,
            extra={"error_id": error_id, "error_code": "bad_logout_message", "status": 400,
                   "path": getattr(context, "path", "")},
        )  # fmt: skip
        return self._recorded_page(logout_id, {"state": "bad", "error_id": error_id})

    def _recorded_page(self, logout_id: str, answer: dict) -> Response:
        record = self._record(logout_id) or _no_record("sv")  # expired meanwhile
        recorded = self._saved(logout_id, "results") or {}
        results = dict(enumerate(recorded.get("results") or []))
        return self._done_page(record, results, answer)

    def _done_page(
        self, record: dict, results: dict[int, dict | None], answer: dict | None = None
    ) -> Response:
        """The result; ``answer``: the organisation IdP's (state ``ok``, ``status``, ``bad``),
        None when it gave none (or was not asked)."""
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
        upstream = self._upstream_line(record.get("upstream"), answer, lang)
        # The organisation's login still open (or unknown) is as partial as an application
        # that did not confirm: a new login could be answered there without a password.
        partial = bool(no_answer or unsupported or (upstream and upstream["state"] != "ok"))
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
            upstream=upstream,
            back=back,
            back_name=self._initiator_name(initiator, lang) if back else None,
        )
        return _page(html)

    def _upstream_line(self, upstream: dict | None, answer: dict | None, lang: str):
        """What the result page says about the organisation's login, or None."""
        if not upstream:
            return None
        if not upstream.get("slo"):
            state = "unsupported"
        else:
            state = (answer or {}).get("state") or "no_answer"
        return {
            "name": self._login_name(upstream, lang),
            "state": state,
            "detail": (answer or {}).get("detail") if state == "status" else None,
            "error_id": (answer or {}).get("error_id") if state == "bad" else None,
        }

    def _login_name(self, upstream: dict, lang: str) -> str:
        """An organisation's own login by the organisation's name, another by its method."""
        if upstream.get("method") == LoginMethod.OWN_IDP and upstream.get("organisation"):
            return self.organisation_name(upstream["organisation"], lang)
        method = upstream.get("method") or ""
        return METHODS[lang].get(method) or upstream.get("entity_id") or method

    def _initiator_name(self, initiator: dict, lang: str) -> str:
        if initiator.get("protocol") == "upstream":
            facts = {"method": LoginMethod.OWN_IDP, **initiator}
            return self._login_name(facts, lang)
        return self.name(initiator.get("application"))

    def _outgoing_continuation(self, initiator: dict, partial: bool):
        """The initiating party's answer (an :class:`~satosa_efos.logout.saml.Outgoing`), or
        None: the proxy's own logout page, or no address to answer at."""
        protocol = initiator.get("protocol")
        if protocol == "upstream":
            adapter = self.parts.upstream.get(initiator.get("backend") or "")
        elif protocol in ("saml", "oidc"):
            adapter = getattr(self.parts, protocol, None)
        else:
            return None
        return adapter.continuation(initiator, partial) if adapter is not None else None

    def _continuation(self, initiator: dict, partial: bool) -> dict | None:
        """How the initiating party gets its answer: a form, a link, or nothing."""
        outgoing = self._outgoing_continuation(initiator, partial)
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
