"""Mobilt Efos login, the pure core (DESIGN.md §2): no SATOSA import lives here.

- ``client``: the RP API client (docs/efos-rp-api.md).
- ``qr``: the animated QR code's data and its SVG rendering.
- ``certificates`` / ``ocsp``: validation of the user's certificate from the completion data.
- ``attributes``: certificate subject fields to internal attributes, policy OID to LoA.
"""
