"""Metadata certificates handed to pysaml2's backends as files written once, not per message."""

from __future__ import annotations

import os
import stat

import pytest
import saml2.sigver
from helpers import saml_peers

from satosa_efos.xmlsec import pemfiles
from satosa_efos.xmlsec.backend import ENVIRONMENT


@pytest.fixture(scope="module")
def cert_pem(tmp_path_factory):
    files = saml_peers.make_files(tmp_path_factory.mktemp("peers"))
    return files.idp_cert.read_bytes()


def test_the_same_certificate_is_the_same_file(cert_pem):
    first = pemfiles.make_temp(cert_pem, suffix=".pem", decode=False)
    again = pemfiles.make_temp(cert_pem.decode(), suffix=".pem", decode=False)
    assert first.name == again.name
    with open(first.name, "rb") as written:
        assert written.read() == cert_pem
    folder = os.path.dirname(first.name)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert not [name for name in os.listdir(folder) if name.endswith(".part")]


def test_a_file_removed_underneath_is_written_again(cert_pem):
    made = pemfiles.make_temp(cert_pem, suffix=".pem", decode=False)
    os.unlink(made.name)
    again = pemfiles.make_temp(cert_pem, suffix=".pem", decode=False)
    with open(again.name, "rb") as written:
        assert written.read() == cert_pem


@pytest.mark.parametrize(
    "args",
    [
        ("<xml/>", ".xml", False),  # documents for the xmlsec1 program
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", ".pem", False),
        ("TUlJQw==", ".pem", True),  # base64 to decode
        ("-----BEGIN CERTIFICATE-----\n", "", False),  # no suffix: decrypt_keys' kind of call
    ],
)
def test_everything_else_is_a_fresh_temporary_file(args):
    content, suffix, decode = args
    made = pemfiles.make_temp(content, suffix=suffix, decode=decode)
    assert not isinstance(made, pemfiles.PemFile)
    assert made.name.endswith(suffix)
    made.close()


@pytest.mark.parametrize("backend", ["inprocess", "xmlsec1"])
def test_pysaml2_verifies_without_writing_a_file_per_message(tmp_path, monkeypatch, backend):
    """No certificate file per message with either backend; in-process, no file at all (the
    xmlsec1 program needs each document in a file)."""
    monkeypatch.delenv(ENVIRONMENT, raising=False)  # this test chooses the backend
    files = saml_peers.make_files(tmp_path)
    sp = saml_peers.make_sp(files, [files.idp_metadata], backend)
    idp = saml_peers.make_idp(files, [files.sp_metadata], backend)
    assert saml2.sigver.make_temp is pemfiles.make_temp
    written = []
    original = pemfiles._original
    monkeypatch.setattr(pemfiles, "_original",
                        lambda *a, **k: written.append(k) or original(*a, **k))  # fmt: skip
    for _ in range(3):
        request_id, request = saml_peers.request(sp, f"{files.idp_entity_id}/sso/post")
        response = saml_peers.answer(idp, request, encrypt=True)
        assert saml_peers.consume(sp, response, request_id).ava["mail"]
    assert [k for k in written if k.get("suffix") == ".pem"] == []
    if backend == "inprocess":
        assert written == []
    else:
        assert written  # the documents for the program: the count is the control
