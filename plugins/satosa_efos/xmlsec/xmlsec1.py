"""The fallback backend: pysaml2's ``xmlsec1`` subprocess backend behind the same policy.

Selected with ``crypto_backend: xmlsec1`` (or ``SATOSA_EFOS_CRYPTO_BACKEND=xmlsec1``) where the
python ``xmlsec`` bindings cannot be used. The documents go through the checks of
:mod:`.policy` before ``xmlsec1`` sees them, so both backends refuse the same messages; the
encryption template is rewritten to the policy's algorithms (pysaml2's default is 3DES); the
program's version is asked once, not before every operation as pysaml2 does.
"""

from __future__ import annotations

from pathlib import Path

from saml2.saml import SamlBase
from saml2.sigver import CryptoBackendXmlSec1, XmlsecError, make_temp

from satosa_efos.xmlsec import policy as p

#: xmlsec1's ``--session-key`` name per data-encryption algorithm.
_SESSION_KEYS = {
    p.AES128_CBC: "aes-128",
    p.AES192_CBC: "aes-192",
    p.AES256_CBC: "aes-256",
    p.AES128_GCM: "aes-128",
    p.AES192_GCM: "aes-192",
    p.AES256_GCM: "aes-256",
}


class Xmlsec1Backend(CryptoBackendXmlSec1):
    def __init__(
        self,
        xmlsec_binary: str,
        policy: p.AlgorithmPolicy | None = None,
        delete_tmpfiles: bool = True,
    ) -> None:
        super().__init__(xmlsec_binary, delete_tmpfiles=delete_tmpfiles)
        self.policy = policy or p.AlgorithmPolicy()
        self._version: str | None = None

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = CryptoBackendXmlSec1.version.fget(self)
        return self._version

    def sign_statement(self, statement, node_name, key_file, node_id):
        if isinstance(statement, SamlBase):
            statement = str(statement)
        p.signed_element(p.parse(statement), node_name, node_id, self.policy)
        return super().sign_statement(statement, node_name, key_file, node_id)

    def validate_signature(self, signedtext, cert_file, cert_type, node_name, node_id):
        root = p.parse(signedtext)
        _, signature = p.signed_element(root, node_name, node_id, self.policy)
        p.strip_key_info(signature)
        try:
            return super().validate_signature(
                p.serialise(root), cert_file, cert_type, node_name, node_id
            )
        except XmlsecError as exc:
            raise p.SignatureRefused("bad_signature", f"{node_name} {node_id}") from exc

    def encrypt(self, text, recv_key, template, session_key_type=None, xpath=""):
        """``template`` is a file name here (SecurityContext.encrypt's default template)."""
        rewritten = p.rewrite_template(Path(template).read_text(), self.policy)
        with make_temp(rewritten.encode(), suffix=".xml", decode=False) as handle:
            return super().encrypt(text, recv_key, handle.name, self._session_key(), xpath)

    def encrypt_assertion(
        self, statement, enc_key, template, key_type=None, node_xpath=None, node_id=None
    ):
        return super().encrypt_assertion(
            statement,
            enc_key,
            p.rewrite_template(template, self.policy),
            self._session_key(),
            node_xpath,
            node_id,
        )

    def decrypt(self, enctext, key_file):
        p.encrypted_parts(p.parse(enctext, p.DecryptionRefused), self.policy)
        try:
            return super().decrypt(enctext, key_file)
        except XmlsecError as exc:
            raise p.DecryptionRefused("no_session_key", "xmlsec1 could not decrypt") from exc

    def _session_key(self) -> str:
        return _SESSION_KEYS[self.policy.data_encryption]
