"""SAML metadata between the proxy and its federations (Sambi, Fedkom).

- :mod:`.settings`: the configuration models (``federation:`` sources, ``published_metadata:``);
- :mod:`.fetch`: download, verify and atomically replace an aggregate (``metadata fetch``);
- :mod:`.live`: a verified aggregate as a pysaml2 metadata source, reloaded in the background
  when its file changes, with its entities gone once it expires;
- :mod:`.published`: the proxy's own IdP metadata, signed and byte-for-byte reproducible.

Signature checks live in :mod:`satosa_efos.xmlsec.metadata`; docs/metadata.md is the operator's
side of all of this.
"""
