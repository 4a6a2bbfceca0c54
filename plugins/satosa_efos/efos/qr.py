"""The animated QR code of a Mobilt Efos order (docs/efos-rp-api.md, *The animated QR code*).

The code changes every second and carries an HMAC over the elapsed seconds, so a photo of the
screen is useless after 30 s; ``qrStartSecret`` never leaves the server, which is why the SVG is
rendered here and not in the browser.
"""

from __future__ import annotations

import hashlib
import hmac
import io

import segno

#: The prefix of every qrData (docs/efos-rp-api.md).
QR_PREFIX = "efos"

# "M" keeps a ~100-character qrData at version 7 (45 modules) while tolerating a scuffed or
# glare-hit screen; the 4-module quiet zone is the minimum ISO/IEC 18004 asks for.
_ERROR_CORRECTION = "m"
_QUIET_ZONE = 4


def qr_data(qr_start_token: str, qr_start_secret: str, seconds: int) -> str:
    """Return the qrData for ``seconds`` whole seconds since the ``auth`` answer.

    ``qrAuthCode = hex(HMAC-SHA256(key=qrStartSecret, msg=str(t)))`` and
    ``qrData = "efos." + qrStartToken + "." + t + "." + qrAuthCode`` (docs/efos-rp-api.md).
    """
    if seconds < 0:
        raise ValueError(f"seconds since the order started cannot be negative, got {seconds}")
    elapsed = str(int(seconds))
    auth_code = hmac.new(
        qr_start_secret.encode("utf-8"), elapsed.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    return f"{QR_PREFIX}.{qr_start_token}.{elapsed}.{auth_code}"


def qr_svg(data: str, *, title: str) -> str:
    """Return ``data`` as a QR code in inline SVG, ready to be placed in an HTML page.

    No XML declaration (it is invalid inside HTML), a ``viewBox`` and no fixed size so CSS can
    scale it, a white quiet zone so it scans on a dark page, and ``<title>`` plus
    ``role="img"`` so a screen reader announces it (WCAG 1.1.1) instead of skipping it.
    """
    code = segno.make(data, error=_ERROR_CORRECTION, micro=False, boost_error=False)
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        omitsize=True,
        border=_QUIET_ZONE,
        title=title,
        dark="#000",
        light="#fff",
        svgclass="efos-qr",
        lineclass=None,
    )
    return out.getvalue().decode("utf-8").replace("<svg ", '<svg role="img" ', 1)
