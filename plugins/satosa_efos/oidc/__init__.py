"""OpenID Connect rules of the proxy's OP, without SATOSA: one module per concern.

``pkce`` (RFC 7636), ``pairwise`` (OIDC Core §8.1 subject identifiers), ``acr`` (the LoA
contract of an authorization request, DOMAIN.md §5), ``claims`` (release per application,
DOMAIN.md §4), ``errors`` (refusals named after the protocol's error codes). The SATOSA adapter
is :mod:`satosa_efos.frontends.oidc_op`; the token store is :mod:`satosa_efos.sessions`.
"""
