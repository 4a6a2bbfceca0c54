"""pysaml2's crypto backend in-process: libxmlsec1 through the python ``xmlsec`` bindings.

pysaml2's default backend starts the ``xmlsec1`` program for every operation (and once more to
ask its version), writing each document to a temporary file; a brokered login costs about 16
processes. This backend signs, verifies, encrypts and decrypts the lxml tree in memory, with the
checks of :mod:`.policy` done first and libxmlsec1's own transform allow-lists set to the same
algorithms as a second line. Keys and certificates are parsed once per content and kept.

It implements :class:`saml2.sigver.CryptoBackend` as ``SecurityContext`` calls it; install it
with :func:`satosa_efos.xmlsec.backend.install`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import xmlsec
from lxml import etree
from saml2.saml import SamlBase
from saml2.sigver import ASSERT_XPATH, CryptoBackend, pre_encrypt_assertion

from satosa_efos.xmlsec import policy as p

_TRANSFORMS = {
    t.href: t
    for t in (getattr(xmlsec.Transform, name) for name in dir(xmlsec.Transform))
    if isinstance(t, type(xmlsec.Transform.SHA256))
}
_KEY_CACHE_SIZE = 64
#: Session key type and length per data-encryption algorithm (3DES only for a policy that,
#: unlike every policy of the proxy, admits it: the benchmark's SP reading stock SATOSA).
_SESSION_KEYS = {
    **{algorithm: (xmlsec.KeyData.AES, size) for algorithm, size in p.AES_KEY_BYTES.items()},
    p.TRIPLEDES_CBC: (xmlsec.KeyData.DES, 24),
}


class KeyCache:
    """Parsed keys by file content: pysaml2 hands over temporary copies of the same PEM. Also
    one keys manager per recipient certificate: libxmlsec1 takes ~15-40 ms to make one."""

    def __init__(self, size: int = _KEY_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[bytes, int, bool], object] = OrderedDict()

    def load(self, path: str | Path, key_format: int) -> xmlsec.Key:
        return self._get(path, key_format, manager=False)

    def manager(self, cert_path: str | Path) -> xmlsec.KeysManager:
        """A keys manager holding only this certificate's public key (for key transport)."""
        return self._get(cert_path, xmlsec.KeyFormat.CERT_PEM, manager=True)

    def _get(self, path: str | Path, key_format: int, manager: bool):
        data = Path(path).read_bytes()
        cache_key = (hashlib.sha256(data).digest(), key_format, manager)
        entry = self._entries.get(cache_key)
        if entry is None:
            entry = key = xmlsec.Key.from_memory(data, key_format)
            if manager:
                entry = xmlsec.KeysManager()
                entry.add_key(key)
            self._entries[cache_key] = entry
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(cache_key)
        return entry


def _transforms(hrefs: frozenset[str]) -> list:
    return [_TRANSFORMS[href] for href in sorted(hrefs) if href in _TRANSFORMS]


class InProcessBackend(CryptoBackend):
    """Sign, verify, encrypt and decrypt with libxmlsec1 in this process."""

    def __init__(self, policy: p.AlgorithmPolicy | None = None) -> None:
        super().__init__()
        self.policy = policy or p.AlgorithmPolicy()
        self.keys = KeyCache()
        self._reference_transforms = _transforms(
            p.REFERENCE_TRANSFORMS | self.policy.digest_algorithms
        )
        self._signature_transforms = _transforms(
            p.CANONICALISATIONS | self.policy.signature_algorithms
        )

    @property
    def version(self) -> str:
        return ".".join(str(n) for n in xmlsec.get_libxmlsec_version())

    # -- signatures -------------------------------------------------------------------------

    def sign_statement(self, statement, node_name, key_file, node_id):
        """Fill the signature template pysaml2 put into the element with ``node_id``."""
        if isinstance(statement, SamlBase):
            statement = str(statement)
        root = p.parse(statement)
        element, signature = p.signed_element(root, node_name, node_id, self.policy)
        context = xmlsec.SignatureContext()
        try:
            context.key = self.keys.load(key_file, xmlsec.KeyFormat.PEM)
            context.register_id(element, "ID")
            context.sign(signature)
        except (xmlsec.Error, OSError) as exc:
            raise p.SignatureRefused("sign_failed", f"cannot sign {node_name}: {exc}") from exc
        return p.serialise(root)

    def validate_signature(self, signedtext, cert_file, cert_type, node_name, node_id):
        """True if the element ``node_id`` is signed, as the policy demands, by ``cert_file``'s
        key; otherwise :class:`~.policy.SignatureRefused` (pysaml2's ``SignatureError``)."""
        root = p.parse(signedtext)
        element, signature = p.signed_element(root, node_name, node_id, self.policy)
        p.strip_key_info(signature)
        key_format = xmlsec.KeyFormat.CERT_DER if cert_type == "der" else xmlsec.KeyFormat.CERT_PEM
        context = xmlsec.SignatureContext()
        try:
            context.key = self.keys.load(cert_file, key_format)
        except (xmlsec.Error, OSError) as exc:
            raise p.SignatureRefused("no_key", f"cannot read {cert_file}: {exc}") from exc
        if element.get("ID"):
            context.register_id(element, "ID")
        context.set_enabled_key_data([])  # no key from the message, ever
        for transform in self._reference_transforms:
            context.enable_reference_transform(transform)
        for transform in self._signature_transforms:
            context.enable_signature_transform(transform)
        try:
            context.verify(signature)
        except xmlsec.Error as exc:
            raise p.SignatureRefused("bad_signature", f"{node_name} {node_id}: {exc}") from exc
        return True

    # -- encryption -------------------------------------------------------------------------

    def encrypt(self, text, recv_key, template, session_key_type=None, xpath=""):
        root = p.parse(text, p.EncryptionRefused)
        targets = root.xpath(xpath) if xpath else [root]
        return self._encrypt(root, targets, recv_key, template)

    def encrypt_assertion(
        self, statement, enc_key, template, key_type=None, node_xpath=None, node_id=None
    ):
        """Encrypt the assertion (pysaml2 moved it into ``EncryptedAssertion``) for the holder of
        ``enc_key``: the template's content algorithm when the policy allows it (an AES one the
        SAML frontend chose from the application's metadata), never pysaml2's default 3DES."""
        if isinstance(statement, SamlBase):
            statement = pre_encrypt_assertion(statement)
        root = p.parse(str(statement), p.EncryptionRefused)
        targets = root.xpath(node_xpath or ASSERT_XPATH)
        return self._encrypt(root, targets, enc_key, template)

    def _encrypt(self, root, targets, recipient_cert, template) -> str:
        if len(targets) != 1 or not isinstance(targets[0], etree._Element):
            raise p.EncryptionRefused("target", f"{len(targets)} elements to encrypt, not one")
        hints = p.recipient_hints(template)
        content = self.policy.content_algorithm(hints.data_algorithm)
        algorithm = _TRANSFORMS[content]
        data = xmlsec.template.encrypted_data_create(
            root, algorithm, type=xmlsec.EncryptionType.ELEMENT, ns="xenc", id=hints.data_id
        )
        xmlsec.template.encrypted_data_ensure_cipher_value(data)
        key_info = xmlsec.template.encrypted_data_ensure_key_info(data, ns="ds")
        encrypted_key = xmlsec.template.add_encrypted_key(
            key_info, _TRANSFORMS[self.policy.key_transport], id=hints.key_id
        )
        xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
        try:
            context = xmlsec.EncryptionContext(self.keys.manager(recipient_cert))
            context.key = xmlsec.Key.generate(
                xmlsec.KeyData.AES,
                8 * p.AES_KEY_BYTES[content],
                xmlsec.KeyDataType.SESSION,
            )
            data = context.encrypt_xml(data, targets[0])
        except (xmlsec.Error, OSError) as exc:
            raise p.EncryptionRefused("encrypt_failed", str(exc)) from exc
        recipient = p.key_info_for_recipient(hints)
        if recipient is not None:
            encrypted_key = data.find(f".//{{{p.XENC}}}EncryptedKey")
            encrypted_key.insert(1, recipient)  # after EncryptionMethod (xenc schema order)
        return p.serialise(root)

    def decrypt(self, enctext, key_file):
        """The document with its first EncryptedData replaced by the plaintext element (what
        ``xmlsec1 --decrypt`` returns), if the policy's algorithms were used."""
        root = p.parse(enctext, p.DecryptionRefused)
        parts = p.encrypted_parts(root, self.policy)
        session_key = self._session_key(parts, key_file)
        context = xmlsec.EncryptionContext()
        try:
            context.key = xmlsec.Key.from_binary_data(
                _SESSION_KEYS[parts.algorithm][0], session_key
            )
            decrypted = context.decrypt(parts.data)
        except xmlsec.Error as exc:
            raise p.DecryptionRefused("decrypt_failed", str(exc)) from exc
        if not isinstance(decrypted, etree._Element):
            raise p.DecryptionRefused("decrypt_failed", "the plaintext is not an element")
        return p.serialise(decrypted)

    def _session_key(self, parts: p.EncryptedParts, key_file) -> bytes:
        """The session key from the first EncryptedKey our private key opens (RSA-OAEP)."""
        try:
            private_key = self.keys.load(key_file, xmlsec.KeyFormat.PEM)
        except (xmlsec.Error, OSError) as exc:
            raise p.DecryptionRefused("no_key", f"cannot read the decryption key: {exc}") from exc
        wanted = _SESSION_KEYS[parts.algorithm][1]
        for encrypted_key in parts.keys:
            context = xmlsec.EncryptionContext()
            context.key = private_key
            try:
                session_key = context.decrypt(encrypted_key)
            except xmlsec.Error:
                continue
            if isinstance(session_key, bytes) and len(session_key) == wanted:
                return session_key
        raise p.DecryptionRefused("no_session_key", "no EncryptedKey opens with this key")
