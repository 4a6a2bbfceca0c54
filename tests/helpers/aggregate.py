"""Build a signed federation aggregate (like Sambi's) from metadata files, with xmlsec1."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from lxml import etree

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"

TEMPLATE = f"""<ds:Signature xmlns:ds="{DS}">
  <ds:SignedInfo>
    <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
    <ds:SignatureMethod Algorithm="{{algorithm}}"/>
    <ds:Reference URI="#{{ident}}">
      <ds:Transforms>
        <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
        <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      </ds:Transforms>
      <ds:DigestMethod Algorithm="{{digest}}"/>
      <ds:DigestValue/>
    </ds:Reference>
  </ds:SignedInfo>
  <ds:SignatureValue/>{{key_info}}
</ds:Signature>"""


def build_aggregate(
    entity_files: list[Path],
    key: Path,
    out: Path,
    *,
    valid_for: dt.timedelta = dt.timedelta(days=7),
    sign: bool = True,
    algorithm: str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    digest: str = "http://www.w3.org/2001/04/xmlenc#sha256",
    key_info: str = "",
    cert: Path | None = None,
) -> Path:
    """``key_info``: e.g. ``<ds:KeyInfo><ds:X509Data/></ds:KeyInfo>`` (xmlsec1 fills it from
    ``cert``) or ``<ds:KeyInfo><ds:KeyValue/></ds:KeyInfo>`` (the signer's public key)."""
    valid_until = (dt.datetime.now(dt.UTC) + valid_for).strftime("%Y-%m-%dT%H:%M:%SZ")
    root = etree.Element(
        f"{{{MD}}}EntitiesDescriptor",
        nsmap={"md": MD},
        ID="_aggregate",
        validUntil=valid_until,
        Name="test-federation",
    )
    if sign:
        template = TEMPLATE.format(
            algorithm=algorithm, digest=digest, ident="_aggregate", key_info=key_info
        )
        root.append(etree.fromstring(template))
    for path in entity_files:
        root.append(etree.parse(str(path)).getroot())
    out.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    if sign:
        subprocess.run(
            ["xmlsec1", "--sign", "--privkey-pem", f"{key},{cert}" if cert else str(key),
             "--id-attr:ID",
             f"{MD}:EntitiesDescriptor", "--output", str(out), str(out)],
            check=True, capture_output=True,
        )  # fmt: skip
    return out
