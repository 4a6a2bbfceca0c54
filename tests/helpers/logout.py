"""Single logout in the flow tests: what the proxy's logout page and result page do and show,
and a redirect signature checked with nothing but ``cryptography`` (docs/sso.md)."""

from __future__ import annotations

import base64
import re
import zlib
from urllib.parse import parse_qs, unquote_plus, urlsplit

import requests
from bs4 import BeautifulSoup
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from helpers.browser import Browser

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def text(page: requests.Response) -> str:
    """A page's words (its main part), whitespace folded."""
    soup = BeautifulSoup(page.text, "html.parser")
    return re.sub(r"\s+", " ", (soup.main or soup).get_text(" "))


def walk_logout(browser: Browser, page: requests.Response) -> requests.Response:
    """What the logout page's frames and script do: load every frame, then the result page."""
    assert page.status_code == 200, page.text
    soup = BeautifulSoup(page.text, "html.parser")
    for frame in soup.find_all("iframe"):
        browser.follow(browser.get(frame["src"]))
    return browser.submit(page, having="l")


def result_lists(page: requests.Response) -> dict[str, list[str]]:
    soup = BeautifulSoup(page.text, "html.parser")
    return {
        key: [li.get_text(strip=True) for li in soup.select(f"#{key} li")]
        for key in ("logged-out", "notified", "no-answer", "unsupported")
    }


def back_to_application(browser: Browser, done: requests.Response) -> requests.Response:
    """Press the result page's "Tillbaka till …" (a form with the LogoutResponse, or a link)."""
    back = BeautifulSoup(done.text, "html.parser").find(id="logout-back")
    assert back is not None, done.text
    if back.name == "form":
        return browser.submit(done, having="SAMLResponse")
    return browser.get(back["href"])


def verify_redirect_signature(url: str, certificate: x509.Certificate, field: str) -> bytes:
    """SAML bindings §3.4.4.1, checked here with nothing but ``cryptography``: the message."""
    query = urlsplit(url).query
    raw = dict(pair.split("=", 1) for pair in query.split("&"))
    octets = "&".join(f"{k}={raw[k]}" for k in (field, "RelayState", "SigAlg") if k in raw)
    assert unquote_plus(raw["SigAlg"]) == RSA_SHA256
    signature = base64.b64decode(unquote_plus(raw["Signature"]))
    certificate.public_key().verify(signature, octets.encode(), padding.PKCS1v15(), hashes.SHA256())
    return zlib.decompress(base64.b64decode(parse_qs(query)[field][0]), -15)
