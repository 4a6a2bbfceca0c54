"""What the SAML frontend reads from an AuthnRequest for routing (DOMAIN.md §8, §9)."""

from __future__ import annotations

from types import SimpleNamespace

from saml2.samlp import authn_request_from_string

from satosa_efos.frontends.saml_idp import request_hints

REQUEST = """<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
    xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0"
    IssueInstant="2026-11-29T10:00:00Z" IsPassive="{passive}" ForceAuthn="true">
  <saml:Issuer>https://app.example.se/sp</saml:Issuer>
  <samlp:Extensions>
    <psc:PrincipalSelection xmlns:psc="http://id.swedenconnect.se/authn/1.0/principal-selection/ns">
      <psc:MatchValue Name="urn:oid:1.2.752.29.6.2.1">SE2120001355-E000000000101</psc:MatchValue>
      <psc:MatchValue Name="urn:oid:1.2.752.29.4.13">191212121212</psc:MatchValue>
    </psc:PrincipalSelection>
  </samlp:Extensions>
  <samlp:Scoping>
    <samlp:IDPList>
      <samlp:IDPEntry ProviderID="https://idp.boras.se/saml"/>
      <samlp:IDPEntry ProviderID="https://idp.goteborg.se/saml"/>
    </samlp:IDPList>
  </samlp:Scoping>
</samlp:AuthnRequest>"""


def context(query=None, form=None):
    return SimpleNamespace(qs_params=query or {}, request=form or {})


def test_reads_principal_selection_idp_list_and_flags():
    request = authn_request_from_string(REQUEST.format(passive="true"))
    hints = request_hints(request, context({"org": " boras "}))
    assert hints == {
        "org": "boras",
        "idp_list": ["https://idp.boras.se/saml", "https://idp.goteborg.se/saml"],
        "principal": ["SE2120001355-E000000000101", "191212121212"],
        "is_passive": True,
        "force_authn": True,
    }


def test_request_without_hints_has_empty_hints():
    plain = authn_request_from_string(
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r2" '
        'Version="2.0" IssueInstant="2026-11-29T10:00:00Z"/>'
    )
    hints = request_hints(plain, context())
    assert hints == {"org": None, "idp_list": [], "principal": [], "is_passive": False,
                     "force_authn": False}  # fmt: skip
