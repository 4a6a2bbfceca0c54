"""check-config for a SAML application: its registry entry against the metadata it names.

Each problem is (key of the application entry, message), reported by check-config at that key's
line. The metadata file itself (readable, no DTD, the entityID, certificates in date) is checked
by :func:`satosa_efos.config.files.check_metadata` first; these are the SAML frontend's needs:

- an HTTP-POST AssertionConsumerService (Swedish eID deployment profile §5.4.2: the only
  binding the proxy answers with);
- a signing certificate when the application's requests must be signed (``AuthnRequestsSigned``
  in its metadata or ``require_signed_requests``): else no request of it could ever verify;
- an encryption key when ``encrypt_assertion: true`` is set. Left unset, an application without
  a key gets signed assertions only, with a log line at each login (docs/saml.md);
- RSA keys of at least 2048 bits (profile §8);
- a SAML name for every released attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from satosa_efos.config.models import Application
from satosa_efos.saml.attributes import wire_names
from satosa_efos.saml.sp_metadata import MetadataProblem, read_sp_metadata

MIN_RSA_BITS = 2048


def application_problems(
    app: Application, metadata_path: Path, internal_attributes: Mapping | None = None
) -> list[tuple[tuple, str]]:
    if app.protocol != "saml" or not app.entity_id:
        return []
    try:
        sp = read_sp_metadata(metadata_path, app.entity_id)
    except MetadataProblem as exc:
        return [(("metadata",), f"metadata file {metadata_path} {exc}")]
    problems: list[tuple[tuple, str]] = []
    who = f"the metadata of {app.entity_id}"
    if not sp.post_acs:
        problems.append((("metadata",), f"{who} has no HTTP-POST AssertionConsumerService"))
    if (app.require_signed_requests or sp.authn_requests_signed) and not sp.signing_certificates:
        key = "require_signed_requests" if app.require_signed_requests else "metadata"
        message = f"requests must be signed, but {who} has no signing certificate"
        problems.append(((key,), message))
    if app.encrypt_assertion and not sp.encryption_keys:
        message = f"encrypt_assertion is true, but {who} has no encryption certificate"
        problems.append((("encrypt_assertion",), message))
    keys = [*sp.signing_certificates, *(k.certificate for k in sp.encryption_keys)]
    short = sorted(
        {k.key_size for c in keys if isinstance(k := c.public_key(), rsa.RSAPublicKey)}
        & set(range(MIN_RSA_BITS))
    )
    if short:
        message = f"{who} has a {short[0]}-bit RSA key; at least {MIN_RSA_BITS} bits (profile §8)"
        problems.append((("metadata",), message))
    if internal_attributes is not None:
        names = wire_names(internal_attributes, app.attribute_profile)
        defined = internal_attributes.get("attributes") or {}
        for j, name in enumerate(app.released_attributes):
            if name in defined and name not in names:
                message = f"attribute '{name}' has no SAML name in the sambi or swedish_eid maps"
                problems.append((("released_attributes", j), message))
    return problems
