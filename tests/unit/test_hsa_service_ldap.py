"""The `hsa` micro-service asking a real slapd: the release rules hold whatever answers."""

from __future__ import annotations

import pytest
from helpers.slapd import running_slapd
from test_hsa_microservice import registry, run

from satosa_efos.hsa.ldap import LdapDirectory


@pytest.fixture(scope="module")
def ldap(tmp_path_factory):
    with running_slapd(work_dir=tmp_path_factory.mktemp("slapd")) as slapd:
        directory = LdapDirectory(urls=[slapd.url], bind_dn=slapd.bind_dn, password=slapd.password)
        yield directory
        directory.close()


def test_protected_person_from_ldap_never_gets_personnummer_or_mail(tmp_path, ldap):
    # The certificate said personnummer and mail; slapd says Karin is a protected person.
    _, attributes = run(registry(tmp_path, "{commission: one}"),
                        {"employeeHsaId": ["SE2321000131-E000000001004"],
                         "personalIdentityNumber": ["195006262546"],
                         "mail": ["karin.dahl@vgregion.se"]}, ldap)  # fmt: skip
    assert "personalIdentityNumber" not in attributes and "mail" not in attributes
    assert attributes["commissionHsaId"]  # her one commission is still released


@pytest.mark.parametrize(
    "identifier",
    [
        {"employeeHsaId": ["se2321000131-E000000001002"]},
        {"personalIdentityNumber": ["19730906-9289"]},
        {"mail": ["Bertil.Ek@VGREGION.se"]},
    ],
)
def test_found_by_each_identifier_with_its_one_commission(tmp_path, ldap, identifier):
    _, attributes = run(registry(tmp_path, "{commission: one}"), identifier, ldap)
    assert attributes["employeeHsaId"] == ["SE2321000131-E000000001002"]
    assert attributes["commissionHsaId"] == ["SE2321000131-C000000000006"]


def test_feigned_and_archived_commissions_are_never_offered(tmp_path, ldap):
    service_page, _ = run(registry(tmp_path, "{commission: one}"),
                          {"employeeHsaId": ["SE2321000131-E000000001001"]}, ldap)  # fmt: skip
    assert "SE2321000131-C000000000001" in service_page.message  # the choice page
    assert "SE2321000131-C000000000004" not in service_page.message  # archived
    assert "SE2321000131-C000000000005" not in service_page.message  # feigned
