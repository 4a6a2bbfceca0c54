"""The SAML HTTP-POST binding's page, in Swedish and English and in the proxy's style.

pysaml2's own page is English only, without a title or a language, and unstyled; without
JavaScript it is the page a user actually reads ("press Continue"). The proxy replaces it with
its own page carrying the same form: the same action and the same hidden fields, nothing else.
"""

from __future__ import annotations

from lxml import html as lxml_html
from satosa.response import Response

from satosa_efos.web.render import render

SAML_FIELDS = {"SAMLRequest", "SAMLResponse"}


def localised_post_form(response: Response) -> Response:
    """The same POST form on the proxy's own page; any other response is returned unchanged."""
    message = response.message if isinstance(response.message, str) else None
    if not message or "<form" not in message:
        return response
    form = lxml_html.fromstring(message).find(".//form")
    if form is None:
        return response
    fields = {
        field.get("name"): field.get("value") or ""
        for field in form.iter("input")
        if field.get("type") == "hidden" and field.get("name")
    }
    if not SAML_FIELDS & set(fields):
        return response
    headers = [h for h in response.headers if h[0].lower() != "content-type"]
    body = render("autopost.html", action=form.get("action"), fields=fields)
    return Response(
        body, status=response.status, headers=headers, content="text/html; charset=utf-8"
    )
