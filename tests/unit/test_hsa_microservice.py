"""The `hsa` micro-service's rules, driven through SATOSA's own objects (no HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.metadata import SP_METADATA
from satosa.context import Context
from satosa.internal import AuthenticationInformation, InternalData
from satosa.state import State

from satosa_efos.hsa import DirectoryUnavailable
from satosa_efos.micro_services.hsa import HsaLookup, HsaNotFound, HsaUnavailable, NoCommission
from satosa_efos.state_keys import PAGE_LANG


def registry(tmp_path: Path, hsa: str) -> Path:
    conf = tmp_path / "conf"
    conf.mkdir(parents=True)
    (conf / "organisations.yaml").write_text(
        "organisations:\n  - {id: vgr, name: Västra Götalandsregionen, kind: region,\n"
        "     organisation_number: '232100-0131', domains: [vgregion.se],"
        " login_methods: [efos_mobile]}\n"
    )
    (conf / "app.xml").write_text(SP_METADATA.format(entity="https://app.example.se/sp"))
    (conf / "applications.yaml").write_text(
        "applications:\n  - id: app\n    name: App\n    protocol: saml\n"
        "    entity_id: https://app.example.se/sp\n    metadata: app.xml\n"
        "    allowed_organisations: all\n    released_attributes: [givenName]\n"
        f"    hsa: {hsa}\n"
    )
    return conf


def run(conf: Path, attributes: dict, directory=None):
    service = HsaLookup({"registry_dir": str(conf)}, name="hsa", base_url="https://proxy")
    if directory is not None:
        service.directory = directory
    passed = []
    service.next = lambda context, data: passed.append(data) or "next"
    context = Context()
    context.state = State()
    data = InternalData(auth_info=AuthenticationInformation())
    data.requester = "https://app.example.se/sp"
    data.attributes = dict(attributes)
    result = service.process(context, data)
    return result, (passed[0].attributes if passed else None)


def test_protected_person_never_gets_personnummer_or_mail_released(tmp_path):
    conf = registry(tmp_path, "{commission: none}")
    # The certificate said personnummer and mail; the directory says the person is protected.
    _, attributes = run(conf, {"employeeHsaId": ["SE2321000131-E000000001004"],
                               "personalIdentityNumber": ["195006262546"],
                               "mail": ["karin.dahl@vgregion.se"]})  # fmt: skip
    assert "personalIdentityNumber" not in attributes and "mail" not in attributes
    assert attributes["givenName"] == ["Karin"]


def test_looks_up_by_personnummer_when_no_hsa_id_was_released(tmp_path):
    _, attributes = run(registry(tmp_path, "{}"), {"personalIdentityNumber": ["19730906-9289"]})
    assert attributes["employeeHsaId"] == ["SE2321000131-E000000001002"]


def test_purpose_filter_leaves_one_commission_which_is_used(tmp_path):
    conf = registry(tmp_path, "{commission: one, purposes: [Administration]}")
    _, attributes = run(conf, {"personalIdentityNumber": ["195006262546"]})
    assert attributes["commissionPurpose"] == ["Administration"]


def test_no_fitting_commission_is_refused(tmp_path):
    conf = registry(tmp_path, "{commission: one, purposes: [Forskning]}")
    with pytest.raises(NoCommission):
        run(conf, {"personalIdentityNumber": ["195006262546"]})


def test_person_not_found_continues_or_is_refused_per_application(tmp_path):
    unknown = {"mail": ["nobody@vgregion.se"]}
    result, attributes = run(registry(tmp_path / "a", "{not_found: continue}"), unknown)
    assert result == "next" and attributes == unknown
    with pytest.raises(HsaNotFound):
        run(registry(tmp_path / "b", "{not_found: refuse}"), unknown)


class DownDirectory:
    def find_person(self, **_):
        raise DirectoryUnavailable("no answer within 3 s")


def test_directory_outage_refuses_or_continues_per_application(tmp_path):
    known = {"personalIdentityNumber": ["195006262546"]}
    with pytest.raises(HsaUnavailable):
        run(registry(tmp_path / "a", "{unavailable: refuse}"), known, DownDirectory())
    result, attributes = run(
        registry(tmp_path / "b", "{unavailable: continue}"), known, DownDirectory()
    )
    assert result == "next" and "employeeHsaId" not in attributes


def choice_page(tmp_path, lang_state=None):
    """Anna (three commissions) logs in to an application needing one: the choice page."""
    conf = registry(tmp_path, "{commission: one}")
    service = HsaLookup({"registry_dir": str(conf)}, name="hsa", base_url="https://proxy")
    service.next = lambda context, data: data
    context = Context()
    context.state = State()
    if lang_state:
        context.state[PAGE_LANG] = lang_state
    data = InternalData(auth_info=AuthenticationInformation())
    data.requester = "https://app.example.se/sp"
    data.attributes = {"personalIdentityNumber": ["195006262546"]}
    return service, context, service.process(context, data)


def test_choice_page_opens_in_the_language_chosen_earlier_in_the_login(tmp_path):
    _, _, page = choice_page(tmp_path / "sv")
    assert "Välj medarbetaruppdrag" in page.message
    _, _, page = choice_page(tmp_path / "en", lang_state="en")
    assert "Choose your commission" in page.message


def test_directory_gone_when_the_choice_comes_back_gives_the_outage_page(tmp_path):
    service, context, _ = choice_page(tmp_path)
    service.directory = DownDirectory()
    context.request = {"commission": "SE2321000131-C000000000001"}
    with pytest.raises(HsaUnavailable):
        service._chosen(context)
