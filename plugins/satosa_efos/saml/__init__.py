"""The proxy's SAML IdP rules (Swedish eID deployment profile, Sambi), free of SATOSA.

One module per concern, each check next to the section it enforces: ``request`` (reading and
checking an AuthnRequest), ``signature`` (its signature), ``sp_metadata`` (what an application's
metadata says), ``subject`` (NameID and the client address), ``attributes`` (release and wire
names), ``response`` (building, signing and encrypting the answer), ``status`` (error statuses).
The SATOSA adapter is :mod:`satosa_efos.frontends.saml_idp`; ``docs/saml.md`` is the guide.
"""
