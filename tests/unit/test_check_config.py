"""check-config: every class of configuration error is reported as ``file:line: problem``."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.certs import write_expired_certificate
from helpers.metadata import SP_METADATA

from satosa_efos.cli import main
from satosa_efos.keys import ensure_keypair


@pytest.fixture
def conf(prod_conf: Path) -> Path:
    return prod_conf


def check(conf: Path, capsys) -> tuple[int, list[str]]:
    status = main(["check-config", str(conf)])
    err = capsys.readouterr().err
    return status, [line for line in err.splitlines() if ": " in line and "problem(s)" not in line]


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in {path}")


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def add_application(conf: Path, entry: str) -> Path:
    path = conf / "applications.yaml"
    path.write_text("applications:\n" + entry)
    return path


def app_entry(app_id: str = "app", entity: str = "https://app.example.se/sp", **extra) -> str:
    fields = {
        "id": app_id,
        "name": "Testapp",
        "protocol": "saml",
        "entity_id": entity,
        "metadata": f"../metadata/sp/{app_id}.xml",
        "allowed_organisations": "all",
        "released_attributes": "[givenName]",
        **extra,
    }
    lines = [
        f"  - {k}: {v}" if i == 0 else f"    {k}: {v}" for i, (k, v) in enumerate(fields.items())
    ]
    return "\n".join(lines) + "\n"


def write_sp_metadata(conf: Path, app_id: str = "app", entity: str = "https://app.example.se/sp"):
    (conf.parent / "metadata" / "sp" / f"{app_id}.xml").write_text(
        SP_METADATA.format(entity=entity)
    )


def test_shipped_configurations_are_clean(conf, capsys):
    assert check(conf, capsys) == (0, [])


def test_reports_yaml_syntax_error_with_its_line(conf, capsys):
    path = conf / "organisations.yaml"
    edit(path, "    name: Ale kommun", "    name: [Ale kommun")
    status, lines = check(conf, capsys)
    assert status == 1
    assert len(lines) == 1 and lines[0].startswith(f"{path}:")
    assert int(lines[0].split(":")[1]) >= line_of(path, "[Ale kommun")


def test_reports_duplicate_yaml_key(conf, capsys):
    path = conf / "organisations.yaml"
    edit(path, "    name: Ale kommun\n", "    name: Ale kommun\n    name: Ale\n")
    status, lines = check(conf, capsys)
    assert status == 1
    expected = line_of(path, "name: Ale kommun") + 1
    assert lines == [
        f"{path}:{expected}: duplicate key 'name' (first defined on line {expected - 1})"
    ]


def test_reports_unknown_key_in_organisation(conf, capsys):
    path = conf / "organisations.yaml"
    edit(path, "    name: Ale kommun\n", "    name: Ale kommun\n    nmae: typo\n")
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'nmae: typo')}: unknown key 'nmae' in organisations[1]"
    ]


def test_reports_missing_required_key(conf, capsys):
    path = conf / "organisations.yaml"
    edit(path, "    kind: municipality\n", "")
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, '- id: ale')}: organisations[1]: missing required key 'kind'"
    ]


def test_reports_organisation_number_with_wrong_check_digit(conf, capsys):
    path = conf / "organisations.yaml"
    edit(path, "212000-1439", "212000-1438")
    status, lines = check(conf, capsys)
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:{line_of(path, '212000-1438')}: ")
    assert "organisations[1].organisation_number" in lines[0] and "Luhn" in lines[0]


def test_reports_domain_claimed_by_two_organisations(conf, capsys):
    path = conf / "organisations.yaml"
    edit(path, "domains: [alingsas.se]", "domains: [ale.se]")
    status, lines = check(conf, capsys)
    assert status == 1
    first = line_of(path, "domains: [ale.se]")
    second = line_of(path, "domains: [ale.se]", occurrence=2)
    assert lines == [f"{path}:{second}: domain 'ale.se' is already used at {path}:{first}"]


def test_reports_organisation_id_and_idp_entity_id_used_twice(conf, capsys):
    path = conf / "organisations.yaml"
    text = path.read_text()
    start = text.index("  - id: vgr")
    end = text.index("  - id: ale")
    path.write_text(
        text
        + text[start:end]
        .replace("232100-0131", "212000-9994")
        .replace("[vgregion.se]", "[vgr-kopia.se]")
    )
    status, lines = check(conf, capsys)
    assert status == 1
    ids = [line for line in lines if "id 'vgr'" in line]
    entity = [line for line in lines if "IdP entityID" in line]
    assert len(ids) == 1 and ids[0].startswith(f"{path}:{line_of(path, '- id: vgr', 2)}: ")
    assert len(entity) == 1 and "already used at" in entity[0]


def test_reports_application_allowing_unknown_organisation(conf, capsys):
    write_sp_metadata(conf)
    path = add_application(conf, app_entry(allowed_organisations="[ale, atlantis]"))
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'allowed_organisations')}: application 'app' allows "
        "organisation 'atlantis', which is not in the organisation registry"
    ]


def test_reports_two_applications_with_one_entity_id(conf, capsys):
    write_sp_metadata(conf, "app")
    write_sp_metadata(conf, "app2")
    path = add_application(conf, app_entry("app") + app_entry("app2"))
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'entity_id', 2)}: application entityID "
        f"'https://app.example.se/sp' is already used at {path}:{line_of(path, 'entity_id')}"
    ]


def test_reports_released_attribute_that_does_not_exist(conf, capsys):
    write_sp_metadata(conf)
    path = add_application(conf, app_entry(released_attributes="[givenName, shoeSize]"))
    status, lines = check(conf, capsys)
    assert lines == [
        f"{path}:{line_of(path, 'released_attributes')}: attribute 'shoeSize' is not defined "
        "in internal_attributes"
    ]
    assert status == 1


def test_reports_missing_application_metadata(conf, capsys):
    path = add_application(conf, app_entry())
    status, lines = check(conf, capsys)
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:{line_of(path, 'metadata:')}: metadata file ")
    assert lines[0].endswith("does not exist")


def test_reports_metadata_for_another_entity(conf, capsys):
    write_sp_metadata(conf, entity="https://other.example.se/sp")
    path = add_application(conf, app_entry())
    status, lines = check(conf, capsys)
    assert status == 1
    assert len(lines) == 1 and lines[0].startswith(f"{path}:{line_of(path, 'metadata:')}: ")
    assert "does not describe https://app.example.se/sp" in lines[0]
    assert "https://other.example.se/sp" in lines[0]


def test_refuses_metadata_with_a_dtd(conf, capsys):
    write_sp_metadata(conf)
    md = conf.parent / "metadata" / "sp" / "app.xml"
    md.write_text(
        md.read_text().replace(
            '<?xml version="1.0"?>', '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e "boom">]>'
        )
    )
    add_application(conf, app_entry())
    status, lines = check(conf, capsys)
    assert status == 1 and "contains a DTD" in lines[0]


def test_reports_unknown_key_in_satosa_config(conf, capsys):
    path = conf / "proxy_conf.yaml"
    edit(path, "COOKIE_SECURE: true", "COOKIE_SECURE: true\nCOOKIE_SECUR: false")
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'COOKIE_SECUR:')}: "
        "unknown key 'COOKIE_SECUR' (not a SATOSA setting)"
    ]


def test_reports_plugin_module_that_cannot_be_imported(conf, capsys):
    path = conf / "plugins" / "frontends" / "saml_idp.yaml"
    edit(path, "satosa_efos.frontends.saml_idp.EfosSAMLFrontend", "satosa_efos.nowhere.Frontend")
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'module:')}: cannot import module 'satosa_efos.nowhere': "
        "No module named 'satosa_efos.nowhere'"
    ]


def test_reports_missing_key_file(conf, capsys):
    (conf / "keys" / "backend.key").unlink()
    path = conf / "plugins" / "backends" / "organisation_idps.yaml"
    status, lines = check(conf, capsys)
    assert status == 1
    first = line_of(path, "key_file: keys/backend.key")
    assert lines[0].startswith(f"{path}:{first}: key file ")
    assert lines[0].endswith("keys/backend.key does not exist")
    assert len(lines) == 2  # also the encryption key pair's key_file


def test_reports_expired_certificate(conf, capsys):
    write_expired_certificate(conf / "keys" / "frontend.crt")
    path = conf / "plugins" / "frontends" / "saml_idp.yaml"
    status, lines = check(conf, capsys)
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:{line_of(path, 'cert_file:')}: certificate ")
    assert "expired on" in lines[0]


def test_reports_unset_environment_variable(conf, capsys, monkeypatch):
    monkeypatch.delenv("SATOSA_EFOS_MISSING", raising=False)
    path = conf / "proxy_conf.yaml"
    edit(path, "COOKIE_STATE_NAME: SATOSA_EFOS_STATE", "COOKIE_STATE_NAME: ${SATOSA_EFOS_MISSING}")
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'SATOSA_EFOS_MISSING')}: environment variable SATOSA_EFOS_MISSING "
        "is not set (referenced as ${SATOSA_EFOS_MISSING})"
    ]


def test_reports_placeholder_path_that_names_nothing(conf, capsys):
    path = conf / "organisations.yaml"
    text = path.read_text()
    start = text.index("  - id: ale")
    entry_end = text.index("  - id: alingsas")
    entry = text[start:entry_end]
    edited = entry.replace("placeholders: []", "placeholders: [own_idp.entity_id]")
    path.write_text(text.replace(entry, edited))
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, '- id: ale')}: organisations[1]: placeholders names "
        "'own_idp.entity_id', which this entry does not set"
    ]


def test_accepts_a_new_application_with_its_metadata(conf, capsys):
    write_sp_metadata(conf)
    add_application(conf, app_entry(allowed_organisations="[ale, vgr]"))
    assert check(conf, capsys) == (0, [])


def test_reports_routing_to_a_backend_that_is_not_loaded(conf, capsys):
    path = conf / "plugins" / "microservices" / "routing.yaml"
    edit(path, "own_idp: orgidp", "own_idp: orgidps")
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'own_idp: orgidps')}: login method own_idp names backend "
        "'orgidps', which is not loaded (backends: orgidp, sso)"
    ]


def test_reports_plugin_configuration_errors_with_lines(conf, capsys):
    path = conf / "plugins" / "microservices" / "routing.yaml"
    edit(path, "  registry_dir: .", "  registry_dir: .\n  remember_dayz: 3")
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'remember_dayz')}: unknown key 'remember_dayz' in config"
    ]


def test_reports_default_organisation_that_does_not_exist(conf, capsys):
    path = conf / "plugins" / "microservices" / "routing.yaml"
    text = path.read_text()
    path.write_text(text.replace("default_organisation: null", "default_organisation: atlantis"))
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'atlantis')}: organisation 'atlantis' is not in the "
        "organisation registry"
    ]


def test_reports_change_to_an_organisation_no_earlier_file_defines(conf, capsys):
    folder = conf / "organisations"
    folder.mkdir()
    (conf / "organisations.yaml").rename(folder / "00-regional.yaml")
    change = folder / "10-local.yaml"
    change.write_text("changes:\n  - id: atlantis\n    domains: [atlantis.se]\n")
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{change}:2: a change must name the id of an organisation defined in an earlier file"
    ]


def test_change_in_a_later_file_is_checked_where_it_is_written(conf, capsys):
    folder = conf / "organisations"
    folder.mkdir()
    (conf / "organisations.yaml").rename(folder / "00-regional.yaml")
    change = folder / "10-local.yaml"
    change.write_text("changes:\n  - id: ale\n    domains: [alingsas.se]\n")
    status, lines = check(conf, capsys)
    assert status == 1
    regional = folder / "00-regional.yaml"
    assert lines == [
        f"{change}:3: domain 'alingsas.se' is already used at "
        f"{regional}:{line_of(regional, 'domains: [alingsas.se]')}"
    ]


def test_reports_scope_attribute_that_cannot_carry_scope(conf, capsys):
    path = conf / "organisations.yaml"
    edit(
        path,
        "    domains: [ale.se]\n",
        "    domains: [ale.se]\n    scope_attributes: [givenName]\n",
    )
    status, lines = check(conf, capsys)
    assert status == 1
    assert len(lines) == 1 and lines[0].startswith(f"{path}:{line_of(path, 'scope_attributes')}:")
    assert "'givenName' cannot carry scope" in lines[0]


def test_reports_federation_aggregate_that_does_not_verify(conf, capsys):
    from helpers.aggregate import build_aggregate

    from satosa_efos.simulators import demo_idp

    fed = conf.parent / "metadata" / "federation"
    key, cert = ensure_keypair(fed, "signer", "Federation")
    idp_key, idp_cert = ensure_keypair(fed, "idp", "idp")
    entity = demo_idp.write_metadata("https://idp.ale.se", idp_key, idp_cert, fed / "ale.xml")
    aggregate = build_aggregate([entity], key, fed / "aggregate.xml")
    aggregate.write_text(aggregate.read_text().replace("https://idp.ale.se/idp/sso", "https://x/"))
    path = conf / "plugins" / "backends" / "organisation_idps.yaml"
    edit(
        path,
        "  sp_config:\n",
        "  federation:\n    - file: ../metadata/federation/aggregate.xml\n"
        "      signer_cert: ../metadata/federation/signer.crt\n  sp_config:\n",
    )
    status, lines = check(conf, capsys)
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:{line_of(path, '- file: ../metadata/federation')}: ")
    assert "signature does not verify" in lines[0]


def test_reports_one_entity_described_in_two_metadata_files(conf, capsys):
    from satosa_efos.simulators import demo_idp

    idp_dir = conf.parent / "metadata" / "idp"
    for name in ("old", "new"):
        key, cert = ensure_keypair(conf.parent / "idp-keys", name, name)
        demo_idp.write_metadata("https://idp.ale.se", key, cert, idp_dir / f"{name}.xml")
    path = conf / "plugins" / "backends" / "organisation_idps.yaml"
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'local:')}: entityID https://idp.ale.se/idp is described both "
        f"in {conf / '../metadata/idp/new.xml'} and in {conf / '../metadata/idp/old.xml'}"
    ]


def oidc_entry(app_id: str = "mobil", **extra) -> str:
    fields = {
        "id": app_id,
        "name": "Mobilappen",
        "protocol": "oidc",
        "client_id": f"{app_id}-client",
        "redirect_uris": "[https://mobil.example.se/oidc/cb]",
        "allowed_organisations": "all",
        "released_attributes": "[givenName, employeeHsaId]",
        **extra,
    }
    lines = [
        f"  - {k}: {v}" if i == 0 else f"    {k}: {v}" for i, (k, v) in enumerate(fields.items())
    ]
    return "\n".join(lines) + "\n"


def test_accepts_public_and_confidential_oidc_applications(conf, capsys, monkeypatch):
    monkeypatch.setenv("MOBIL2_SECRET", "s" * 40)
    (conf / "keys" / "mobil3.secret").write_text("f" * 64 + "\n")
    add_application(
        conf,
        oidc_entry()
        + oidc_entry("mobil2", client_secret="${MOBIL2_SECRET}", loa_profile="swedish_eid")
        + oidc_entry("mobil3", client_secret="!FILE keys/mobil3.secret",
                     redirect_uris="[se.example.mobil:/cb, 'http://127.0.0.1:8000/cb']"),
    )  # fmt: skip
    assert check(conf, capsys) == (0, [])


def test_reports_oidc_application_without_redirect_uris(conf, capsys):
    path = add_application(conf, oidc_entry(redirect_uris="[]"))
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, '- id: mobil')}: applications[0]: an OIDC application needs "
        "redirect_uris"
    ]


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("http://mobil.example.se/cb", "is not a redirect URI this proxy accepts"),
        ("https://mobil.example.se/cb#top", "must not have a fragment"),
        ("javascript:alert(1)", "is not a redirect URI this proxy accepts"),
    ],
)
def test_reports_redirect_uri_the_proxy_does_not_accept(conf, capsys, uri, why):
    path = add_application(conf, oidc_entry(redirect_uris=f"['{uri}']"))
    status, lines = check(conf, capsys)
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:{line_of(path, 'redirect_uris')}: ")
    assert why in lines[0]


def test_reports_redirect_uri_listed_twice(conf, capsys):
    uri = "https://mobil.example.se/cb"
    path = add_application(conf, oidc_entry(redirect_uris=f"[{uri}, {uri}]"))
    status, lines = check(conf, capsys)
    assert lines == [
        f"{path}:{line_of(path, 'redirect_uris')}: applications[0].redirect_uris: lists "
        f"'{uri}' twice"
    ]


def test_reports_short_client_secret_without_echoing_it(conf, capsys, monkeypatch):
    monkeypatch.setenv("MOBIL_SECRET", "hemligt-och-kort")
    path = add_application(conf, oidc_entry(client_secret="${MOBIL_SECRET}"))
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'client_secret')}: applications[0].client_secret: is too short: "
        "at least 32 characters (e.g. `openssl rand -hex 32`); leave it out for a public client "
        "with PKCE"
    ]
    assert "hemligt" not in capsys.readouterr().err


def test_reports_client_secret_on_a_saml_application(conf, capsys):
    write_sp_metadata(conf)
    path = add_application(conf, app_entry(client_secret="x" * 40))
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, '- id: app')}: applications[0]: client_secret do not apply to a "
        "SAML application"
    ]


def test_reports_client_id_that_is_another_applications_entity_id(conf, capsys):
    write_sp_metadata(conf)
    path = add_application(conf, app_entry() + oidc_entry(client_id="https://app.example.se/sp"))
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'client_id')}: client_id 'https://app.example.se/sp' is the "
        "entityID of application 'app'"
    ]


def test_reports_released_attribute_without_oidc_claim_name(conf, capsys):
    path = add_application(conf, oidc_entry(released_attributes="[givenName, organizationName]"))
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'released_attributes')}: attribute 'organizationName' has no "
        "OIDC claim name (add 'openid: [...]' to it in internal_attributes.yaml, or do not "
        "release it to an OIDC application)"
    ]


def test_reports_unknown_loa_profile(conf, capsys):
    path = add_application(conf, oidc_entry(loa_profile="eidas"))
    status, lines = check(conf, capsys)
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:{line_of(path, 'loa_profile')}: applications[0].loa_")


def test_reports_oidc_frontend_settings_with_lines(conf, capsys):
    path = conf / "plugins" / "frontends" / "oidc_op.yaml"
    edit(path, "${SATOSA_EFOS_OIDC_DB_URI:-sqlite:state/oidc-op.sqlite3}", "mongodb://db/satosa")
    (conf / "keys" / "oidc-sub-salt.key").write_text("kort\n")
    status, lines = check(conf, capsys)
    assert status == 1
    assert lines == [
        f"{path}:{line_of(path, 'sub_salt:')}: config.sub_salt: is too short: at least 32 "
        "characters (`satosa-efos keys` makes one; a short salt would let anyone who guesses it "
        "link users across applications)",
        f"{path}:{line_of(path, 'db_uri:')}: config.db_uri: 'mongodb://db/satosa' is not a store "
        "this proxy uses: sqlite:PATH (one node) or redis://HOST:PORT/DB (several nodes)",
    ]
    assert "kort" not in "\n".join(lines)
