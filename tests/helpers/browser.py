"""A scripted browser for SAML flows: follows redirects and submits auto-posting forms.

It does what a browser does with the pages of a SAML login and nothing more: HTTP redirects
(requests follows them), and forms that a page submits by script (the SAML POST binding). Every
request is recorded so that tests can look at the messages that crossed the wire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from bs4 import BeautifulSoup
from requests.adapters import HTTPAdapter

SAML_FIELDS = {"SAMLRequest", "SAMLResponse"}


@dataclass
class Posted:
    url: str
    data: dict[str, str]


@dataclass
class Browser:
    session: requests.Session = field(default_factory=requests.Session)
    posted: list[Posted] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)
    timeout: float = 15

    def __post_init__(self) -> None:
        self.session.hooks["response"].append(self._record_redirect)

    def _record_redirect(self, response: requests.Response, *args, **kwargs) -> None:
        if response.is_redirect:
            self.redirects.append(response.headers["Location"])

    def get(self, url: str) -> requests.Response:
        return self.session.get(url, timeout=self.timeout)

    def submit(
        self, response: requests.Response, form_index: int = 0, *, having: str = "", **values: str
    ):
        """Submit a form of the page (after filling ``values``), then follow auto-posts.

        ``having`` picks the first form with a field of that name instead of ``form_index``.
        """
        if having:
            soup = BeautifulSoup(response.text, "html.parser")
            forms = soup.find_all("form")
            form_index = next(
                i for i, f in enumerate(forms) if f.find(attrs={"name": having}) is not None
            )
        return self.follow(self._submit(response, form_index, **values))

    def _submit(self, response: requests.Response, form_index: int = 0, **values: str):
        soup = BeautifulSoup(response.text, "html.parser")
        form = soup.find_all("form")[form_index]
        data = {
            i["name"]: i.get("value", "")
            for i in form.find_all(["input", "button"])
            if i.get("name") and i.get("type") not in ("submit",)
        }
        data.update(values)
        action = urljoin(response.url, form.get("action") or response.url)
        if (form.get("method") or "get").lower() == "post":
            self.posted.append(Posted(action, data))
            reply = self.session.post(action, data=data, timeout=self.timeout)
        else:
            reply = self.session.get(action, params=data, timeout=self.timeout)
        return reply

    def follow(self, response: requests.Response) -> requests.Response:
        """Keep submitting SAML auto-post forms until a page wants a human."""
        for _ in range(10):
            soup = BeautifulSoup(response.text, "html.parser")
            scripted = any("submit()" in (s.string or "") for s in soup.find_all("script"))
            scripted |= "submit()" in (soup.body.get("onload", "") if soup.body else "")
            forms = [
                f
                for f in soup.find_all("form")
                if SAML_FIELDS & {i.get("name") for i in f.find_all("input")}
            ]
            if not (scripted and forms):
                return response
            response = self._submit(response, soup.find_all("form").index(forms[0]))
        raise AssertionError(f"more than 10 automatic form posts: a loop? {self.posted[-3:]}")

    def choose_method(self, page: requests.Response, method: str = "own_idp"):
        """On the proxy's method page (an organisation with several login methods), choose one;
        any other page is returned as it is."""
        if 'name="method"' not in page.text:
            return page
        return self.submit(page, having="method", method=method)

    def last_post_with(self, name: str) -> Posted:
        return next(p for p in reversed(self.posted) if name in p.data)


class OtherNode(HTTPAdapter):
    """Sends every request for the proxy's port to another proxy instance (``session.mount``)."""

    def __init__(self, proxy_port: int, node_port: int):
        super().__init__()
        self.proxy_port, self.node_port = proxy_port, node_port

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        if url.port == self.proxy_port:
            request.url = url._replace(netloc=f"{url.hostname}:{self.node_port}").geturl()
        return super().send(request, **kwargs)


#: The proxy's single sign-on cookie (conf/demo/plugins/microservices/sso.yaml).
SSO_COOKIE = "satosa_efos_sso"


def end_sso_session(browser: Browser) -> None:
    """Forget the proxy's SSO cookie, as when the session has ended: the next login is a login
    again, not an answer from the session (docs/sso.md)."""
    for cookie in [c for c in browser.session.cookies if c.name == SSO_COOKIE]:
        browser.session.cookies.clear(cookie.domain, cookie.path, cookie.name)


def log_in(stack, browser: Browser, username: str = "eva", email: str = "eva.sjoberg@goteborg.se"):
    """Demo application -> proxy -> organisation picker (e-mail typed) -> demo IdP -> back."""
    start = browser.get(f"{stack.urls.app}/")
    assert start.status_code == 200
    picker = browser.submit(start)
    assert picker.url.startswith(stack.urls.proxy), picker.url
    # Göteborg and Borås also offer Mobilt Efos: the method page asks which.
    idp_page = browser.choose_method(browser.submit(picker, having="email", email=email))
    organisation = stack.organisation_of(email)
    assert idp_page.url.startswith(stack.urls.idps[organisation]), idp_page.url
    return choose_commission(browser, browser.submit(idp_page, username=username, password="demo"))


def choose_commission(browser: Browser, page: requests.Response, index: int = 0):
    """On the proxy's commission choice page (HSA), choose the ``index``th commission."""
    offered = re.findall(r'name="commission" value="([^"]+)"', page.text)
    if not offered:
        return page
    return browser.submit(page, having="commission", commission=offered[index])
