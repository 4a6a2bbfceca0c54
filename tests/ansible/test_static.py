"""The Ansible code without converging anything: linters, syntax, argument specs, documentation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_helpers import ANSIBLE, REPO, VAULT_PASSWORD, ansible_env, run_timed, tool

ROLES = ANSIBLE / "roles"


def test_yamllint():
    result = run_timed("yamllint", [tool("yamllint"), "--strict", "."])

    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile():
    result = run_timed("ansible-lint (production profile)", [tool("ansible-lint"), "--nocolor"])

    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "Profile 'production' was required, and it passed" in result.stderr


@pytest.mark.parametrize("playbook", ["site.yml", "rolling-restart.yml"])
def test_syntax_check(playbook):
    result = run_timed(f"ansible-playbook --syntax-check {playbook}", [
        tool("ansible-playbook"), "--syntax-check", playbook,
        "--vault-password-file", str(VAULT_PASSWORD),
    ])  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr


def test_vault_opens_with_the_documented_test_password():
    vault = ANSIBLE / "inventories/example/group_vars/satosa_efos/vault.yml"
    assert vault.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")

    result = subprocess.run(
        [tool("ansible-vault"), "view", "--vault-password-file", str(VAULT_PASSWORD), str(vault)],
        capture_output=True, text=True, env=ansible_env(),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    values = yaml.safe_load(result.stdout)
    assert "vault_satosa_efos_frontend_key" in values
    assert "TEST" in result.stdout.splitlines()[1]


def test_readme_tables_match_the_argument_specs():
    result = subprocess.run(
        [sys.executable, str(ANSIBLE / "tools" / "argspec_readme.py"), "--check"],
        capture_output=True, text=True,
    )  # fmt: skip

    assert result.returncode == 0, f"{result.stdout}run: python ansible/tools/argspec_readme.py"


def specs(role: str) -> dict:
    path = ROLES / role / "meta" / "argument_specs.yml"
    return yaml.safe_load(path.read_text())["argument_specs"]["main"]["options"]


@pytest.mark.parametrize("role", ["satosa_efos", "satosa_efos_nginx"])
def test_every_variable_is_declared_prefixed_and_described(role):
    options = specs(role)
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())

    for name, spec in options.items():
        assert name.startswith(f"{role}_"), name
        assert spec.get("type") and spec.get("description"), name
        if spec.get("required"):
            assert "default" not in spec and name not in defaults, f"{name}: required, no default"
        else:
            assert name in defaults, f"{name}: missing from defaults/main.yml"
            assert defaults[name] == spec["default"], f"{name}: defaults/main.yml differs"
    assert set(defaults) <= set(options), set(defaults) - set(options)


def test_rendered_plugins_match_conf(deployment):
    """The role's templates and conf/ describe the same SATOSA plugins (a plugin added to conf/
    and not to the role, or the other way round, fails here)."""

    def plugins(conf: Path) -> set[tuple[str, str, str]]:
        found = set()
        for path in (conf / "plugins").rglob("*.yaml"):
            data = yaml.safe_load(path.read_text().replace("!FILE", ""))
            found.add((path.relative_to(conf).as_posix(), data["module"], data["name"]))
        return found

    rendered = plugins(deployment.live / "conf")
    expected = plugins(REPO / "conf")

    # conf/ ships the Mobilt Efos backend file but does not enable it; the test deployment
    # does not enable it either.
    assert rendered == {p for p in expected if p[2] != "efos"}


def config_keys(conf: Path, name: str) -> set[str]:
    return set(yaml.safe_load((conf / name).read_text().replace("!FILE", ""))["config"])


@pytest.mark.parametrize(
    "name", ["plugins/frontends/saml_idp.yaml", "plugins/backends/organisation_idps.yaml",
             "plugins/frontends/oidc_op.yaml", "plugins/microservices/hsa.yaml",
             "plugins/microservices/routing.yaml", "plugins/microservices/scope.yaml",
             "plugins/microservices/sso.yaml"],
)  # fmt: skip
def test_rendered_plugin_settings_cover_conf(deployment, name):
    """Every setting conf/ gives a plugin, the role renders too (values come from variables)."""
    missing = config_keys(REPO / "conf", name) - config_keys(deployment.live / "conf", name)
    optional = {"federation", "published_metadata"}  # rendered when the inventory sets them
    assert missing - optional == set()


NEGATIVE = {
    "missing required variable": ({"satosa_efos_base_url": None}, "missing required arguments"),
    "wrong type (int)": ({"satosa_efos_listen_port": "eighty"}, "satosa_efos_listen_port"),
    "wrong type (bool)": ({"satosa_efos_manage_services": "maybe"}, "satosa_efos_manage_services"),
    "not one of the choices": ({"satosa_efos_log_level": "LOUD"}, "satosa_efos_log_level"),
    "wrong type in a list element": (
        {"satosa_efos_federation": [{"name": "sambi"}]}, "url"),
    "nginx: missing required variable": ({"satosa_efos_nginx_tls_key": None},
                                          "satosa_efos_nginx_tls_key"),
    "both package sources (rule across variables)": (
        {"satosa_efos_package_spec": "satosa-efos==0.1.0"}, "exactly one of"),
    "audit log outside the log folder (rule across variables)": (
        {"satosa_efos_audit_log_file": "../audit.log"}, "satosa_efos_audit_log_file a file name"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(NEGATIVE))
def test_argument_specs_refuse_bad_variables(case, tmp_path):
    """Each run stops before the role does anything (the spec is validated first)."""
    change, expected = NEGATIVE[case]
    example = yaml.safe_load((ANSIBLE / "inventories/example/group_vars/satosa_efos/vars.yml")
                             .read_text())  # fmt: skip
    example.update({k: v for k, v in change.items() if v is not None})
    for key in (k for k, v in change.items() if v is None):
        example.pop(key)
    example.update(ansible_connection="local", ansible_python_interpreter=sys.executable,
                   ansible_become=False, satosa_efos_prefix=str(tmp_path / "root"),
                   satosa_efos_nginx_prefix=str(tmp_path / "root"))  # fmt: skip
    # The nginx role on its own, so that its own specs are what stops the run.
    playbook = "site.yml"
    if case.startswith("nginx"):
        playbook = str(tmp_path / "nginx.yml")
        Path(playbook).write_text(
            yaml.safe_dump(
                [{"name": "nginx only", "hosts": "satosa_efos", "roles": ["satosa_efos_nginx"]}]
            )
        )
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"satosa_efos": {"hosts": {"node1.example.se": example}}}))
    vault = ANSIBLE / "inventories/example/group_vars/satosa_efos/vault.yml"

    result = run_timed(f"argument spec: {case}", [
        tool("ansible-playbook"), playbook, "-i", str(inventory), "-e", f"@{vault}",
        "--vault-password-file", str(VAULT_PASSWORD),
    ])  # fmt: skip

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert expected in output, output[-3000:]
    assert not (tmp_path / "root").exists(), "nothing is written before the variables are valid"
