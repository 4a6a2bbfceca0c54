"""Names under which the project's SATOSA plugins hand facts to each other.

Decorations live for one HTTP request; state entries travel in SATOSA's encrypted state cookie
from one request of a login to the next (keep them small: the cookie's budget is ~3.5 kB).
"""

#: Decoration set by the SAML frontend: what the request says about where to log in
#: (``org``, ``idp_list``, ``principal``, ``is_passive``, ``force_authn``).
REQUEST_HINTS = "satosa_efos.request_hints"

#: State entry of the routing decision: ``organisation``, ``method``, ``idp`` (entityID or
#: None), ``source``, and the request hints the backend passes upstream.
ROUTING = "satosa_efos_routing"

#: State entry of the page language the user chose (``sv`` or ``en``), so a switch on the
#: organisation picker carries on to the Efos page and the commission choice page.
PAGE_LANG = "satosa_efos_lang"

#: State entry of the LoA contract of one login (DOMAIN.md §5), written by the frontend that
#: received the request and read by routing, the backends and the frontend's answer:
#: ``{"accepted": ["loa3", ...], "requested": ["http://id.sambi.se/loa/loa3", ...]}`` --
#: ``accepted`` the internal LoA values any of which satisfies the application (exactly, no
#: "at least"), ``requested`` the wire URIs the application asked for (empty when it asked for
#: none and its configured ``required_loa`` applies), in its order of preference.
REQUESTED_LOA = "satosa_efos_loa"

#: Single sign-on (docs/sso.md). Decoration set by the ``sso`` request micro-service when a live
#: session answers the request: the :class:`~satosa_efos.sessions.sso.SsoSession`. Routing then
#: steps aside and the ``sso`` backend answers from it.
SSO_REUSE = "satosa_efos.sso_reuse"

#: State entry written by the ``sso_login`` response micro-service (first in the response
#: chain): the login as the upstream IdP gave it, before HSA and release, for the session.
SSO_LOGIN = "satosa_efos_sso_login"

#: Decoration set by the ``sso_record`` response micro-service (last) before the frontend answers:
#: the session the answer will be recorded in (the OIDC frontend derives ``sid`` from it).
SSO_SESSION = "satosa_efos.sso_session"

#: Decoration set by a frontend when it has built a successful answer: the
#: :class:`~satosa_efos.sessions.sso.Participant` (NameID, SessionIndex / client_id, sid) that
#: single logout will need.
SSO_PARTICIPANT = "satosa_efos.sso_participant"

#: State entry written by the organisation IdP backend when a login comes back: the upstream's
#: ``issuer``, ``backend`` and what logging out there needs (NameID with its Format and
#: qualifiers, SessionIndex). Taken by the ``sso_login`` service into the session (docs/sso.md,
#: "Upstream logout"); a note of another issuer than the login's is ignored.
UPSTREAM_SESSION = "satosa_efos_upstream_session"
