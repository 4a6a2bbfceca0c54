"""Single logout (issue 7, docs/sso.md): ending the SSO session and telling every application.

- :mod:`.saml` -- SAML 2.0 LogoutRequest / LogoutResponse: built, signed and verified here
  (SAML core §3.7, bindings §3.4 and §3.5), with the SAML frontend's key and crypto backend;
- :mod:`.walk` -- one logout from start to the page that lists what was logged out: the
  applications of the session are told front-channel, each in its own frame;
- :mod:`.registry` -- how the parts of one proxy (the SSO service, the SAML and OIDC
  frontends' logout adapters, the walk) find each other in a worker.
"""
