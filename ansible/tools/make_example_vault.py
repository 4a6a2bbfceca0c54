"""Make (or remake) the example inventory's vault: test keys, encrypted with the TEST password.

    .venv/bin/python ansible/tools/make_example_vault.py

Everything in it is a throw-away test value for the example inventory and the tests: the
password is in the repository (inventories/example/vault-password.txt) on purpose. A real
inventory makes its own keys and its own vault password, kept out of any repository.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import yaml

from satosa_efos.keys import generate_self_signed

EXAMPLE = Path(__file__).resolve().parents[1] / "inventories" / "example"
VAULT = EXAMPLE / "group_vars" / "satosa_efos" / "vault.yml"
PASSWORD = EXAMPLE / "vault-password.txt"


class _Literal(str):
    pass


yaml.add_representer(_Literal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, "|"))


def pair(name: str) -> tuple[str, str]:
    key, cert = generate_self_signed(f"satosa-efos example {name} (TEST KEY)")
    return _Literal(key.decode()), _Literal(cert.decode())


def main() -> int:
    frontend_key, frontend_cert = pair("IdP")
    backend_key, backend_cert = pair("SP")
    oidc_key, _ = pair("OIDC")
    tls_key, tls_cert = pair("TLS")
    values = {
        "vault_satosa_efos_state_encryption_key": secrets.token_hex(32),
        "vault_satosa_efos_oidc_sub_salt": secrets.token_hex(32),
        "vault_satosa_efos_saml_name_id_secret": secrets.token_hex(32),
        "vault_satosa_efos_frontend_key": frontend_key,
        "vault_satosa_efos_frontend_cert": frontend_cert,
        "vault_satosa_efos_backend_key": backend_key,
        "vault_satosa_efos_backend_cert": backend_cert,
        "vault_satosa_efos_oidc_signing_key": oidc_key,
        "vault_satosa_efos_nginx_tls_key": tls_key,
        "vault_satosa_efos_nginx_tls_cert": tls_cert,
    }
    header = (
        "---\n# TEST VALUES for the example inventory, encrypted with the TEST password in\n"
        "# inventories/example/vault-password.txt. Never use them for a real proxy.\n"
    )
    VAULT.write_text(header + yaml.dump(values, sort_keys=False, width=100))
    subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-vault")),
            "encrypt",
            str(VAULT),
            "--vault-password-file",
            str(PASSWORD),
        ],
        check=True,
    )
    print(f"wrote {VAULT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
