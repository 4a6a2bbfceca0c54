"""check-config validates a SAML application's registry entry against its metadata (issue 6
acceptance), reporting ``file:line: problem`` at the key that is wrong."""

from __future__ import annotations

from pathlib import Path

from helpers.saml_sp import Acs, write_sp_metadata

from satosa_efos.cli import main
from satosa_efos.keys import ensure_keypair

SP = "https://app.example.se/sp"


def register(conf: Path, metadata: Path, **settings: str) -> Path:
    extra = "".join(f"    {key}: {value}\n" for key, value in settings.items())
    path = conf / "applications.yaml"
    path.write_text(
        "applications:\n"
        "  - id: app\n"
        "    name: Testapp\n"
        "    protocol: saml\n"
        f"    entity_id: {SP}\n"
        f"    metadata: {metadata}\n"
        "    allowed_organisations: all\n"
        "    released_attributes: [givenName, userPrincipalName]\n" + extra
    )
    return path


def problems(conf: Path, capsys) -> list[str]:
    status = main(["check-config", str(conf)])
    lines = [line for line in capsys.readouterr().err.splitlines() if "applications.yaml:" in line]
    assert (status == 0) == (not lines)
    return lines


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_encryption_key_is_required_only_when_encrypt_assertion_is_set(prod_conf, capsys, tmp_path):
    key, cert = ensure_keypair(tmp_path, "sp", "sp")
    metadata = write_sp_metadata(tmp_path / "sp.xml", SP, [Acs(f"{SP}/acs", 1)], cert)
    path = register(prod_conf, metadata)
    found = problems(prod_conf, capsys)
    # Unset: signed only (a log line per login). Only userPrincipalName, which has no SAML name
    # to be sent under, is a problem.
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:{line_of(path, 'released_attributes')}:")
    assert "'userPrincipalName' has no SAML name" in found[0]
    path = register(prod_conf, metadata, encrypt_assertion="true")
    found = problems(prod_conf, capsys)
    assert any(
        line.startswith(f"{path}:{line_of(path, 'encrypt_assertion')}:")
        and "no encryption certificate" in line
        for line in found
    ), found


def test_signed_requests_need_a_signing_certificate_and_answers_a_post_acs(
    prod_conf, capsys, tmp_path
):
    metadata = write_sp_metadata(
        tmp_path / "sp.xml",
        SP,
        [Acs(f"{SP}/acs", 1, binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact")],
        None,
    )
    path = register(prod_conf, metadata, require_signed_requests="true")
    found = problems(prod_conf, capsys)
    assert any(
        line.startswith(f"{path}:{line_of(path, 'require_signed_requests')}:")
        and "no signing certificate" in line
        for line in found
    ), found
    assert any(
        line.startswith(f"{path}:{line_of(path, 'metadata:')}:") and "HTTP-POST" in line
        for line in found
    ), found


def test_saml_settings_do_not_apply_to_an_oidc_application(prod_conf, capsys):
    path = prod_conf / "applications.yaml"
    path.write_text(
        "applications:\n"
        "  - id: rp\n"
        "    name: Testapp\n"
        "    protocol: oidc\n"
        "    client_id: rp\n"
        "    redirect_uris: [https://rp.example.se/cb]\n"
        "    allowed_organisations: all\n"
        "    released_attributes: [givenName]\n"
        "    encrypt_assertion: true\n"
    )
    found = problems(prod_conf, capsys)
    assert any("encrypt_assertion do not apply to an OIDC application" in line for line in found)
