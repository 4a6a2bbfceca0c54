"""Documentation stays true to the code: the error-code table of docs/operations.md, and the
commands, variables and paths of docs/deploy-localhost.md (the newcomer's walk-through)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml
from ansible_helpers import ANSIBLE, EXAMPLE, NODE, REPO, converge_argv

from satosa_efos import demo
from satosa_efos.cli import build_parser
from satosa_efos.simulators.demo_users import load_demo_users

WALK_THROUGH = REPO / "docs" / "deploy-localhost.md"


def test_error_code_table_lists_every_code():
    result = subprocess.run(
        [sys.executable, str(REPO / "docs" / "tools" / "error_codes.py"), "--check"],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


# -- docs/deploy-localhost.md -------------------------------------------------------------------


def shell_commands(text: str) -> list[tuple[str, list[str]]]:
    """(folder, argv) of every command in the ```sh blocks, in order; the folder (relative to
    the checkout) follows the blocks' own `cd` commands."""
    folder: list[str] = []
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv[:1] == ["cd"] and argv[1:] != ["satosa-efos"]:  # not the clone: its folders
                for part in PurePosixPath(argv[1]).parts:
                    folder = folder[:-1] if part == ".." else [*folder, part]
            elif argv and argv[0] != "cd":
                found.append(("/".join(folder) or ".", argv))
    return found


@pytest.fixture(scope="module")
def walk_through() -> str:
    return WALK_THROUGH.read_text()


@pytest.fixture(scope="module")
def commands(walk_through) -> list[tuple[str, list[str]]]:
    return shell_commands(walk_through)


def the(commands, program: str) -> list[tuple[str, list[str]]]:
    return [(folder, argv) for folder, argv in commands if argv[0].endswith(program)]


def option(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == name]


def test_the_walk_through_is_linked_from_the_readme_and_the_operators_guides():
    for path in ("README.md", "docs/operations.md", "ansible/README.md"):
        assert "deploy-localhost.md" in (REPO / path).read_text(), path


def test_every_variable_it_names_is_a_role_variable(walk_through):
    declared = set()
    for role in ("satosa_efos", "satosa_efos_nginx"):
        specs = yaml.safe_load((ANSIBLE / "roles" / role / "meta" / "argument_specs.yml")
                               .read_text())  # fmt: skip
        declared |= set(specs["argument_specs"]["main"]["options"])
    named = set(re.findall(r"\bsatosa_efos_[a-z0-9_]+", walk_through))
    assert named and named <= declared, named - declared


def test_the_playbook_command_is_the_tests_converge(commands):
    """Same playbook, node and vault password file as tests/ansible/ (ansible_helpers.converge),
    the inventory's localhost settings, and the vars file step 2 writes."""
    ((folder, argv),) = the(commands, "ansible-playbook")
    assert folder == "ansible"
    test_argv = converge_argv(Path("VARS"))
    assert argv[1] == test_argv[0] == "site.yml"
    assert option(argv, "--limit") == option(test_argv, "--limit") == [NODE]
    (password,) = option(argv, "--vault-password-file")
    assert [str(ANSIBLE / password)] == option(test_argv, "--vault-password-file")
    assert (ANSIBLE / password).read_text().startswith("TEST-PASSWORD")
    extra = option(argv, "-e")
    assert extra == [
        f"@{(EXAMPLE / 'try-on-localhost.yml').relative_to(ANSIBLE)}",
        f"@../{(demo.DEPLOYMENT_DIR / 'deployment' / 'vars.yml').relative_to(REPO)}",
        "ansible_become=false",  # as the tests' vars file says
    ]
    assert (EXAMPLE / "try-on-localhost.yml").is_file()


def test_every_satosa_efos_command_it_gives_parses(commands):
    parser = build_parser()
    given = the(commands, "satosa-efos")
    assert given
    for folder, argv in given:
        assert folder == "." and argv[0] == ".venv/bin/satosa-efos"  # from the checkout
        parser.parse_args(argv[1:])  # SystemExit (an unknown option) fails the test


def test_the_peers_are_for_the_base_url_the_inventory_deploys(commands):
    localhost = yaml.safe_load((EXAMPLE / "try-on-localhost.yml").read_text())
    parser = build_parser()
    for _, argv in the(commands, "satosa-efos"):
        args = parser.parse_args(argv[1:])
        assert args.command == "demo" and args.deployed_proxy == localhost["satosa_efos_base_url"]


def test_packages_and_install_steps_match_the_makefile_and_setup(commands):
    (apt,) = [argv for _, argv in commands if argv[:2] == ["apt-get", "install"]]
    makefile = (REPO / "Makefile").read_text()
    run_packages = re.search(r"^RUN_PACKAGES := (.*)$", makefile, re.M).group(1).split()
    assert set(run_packages) | {"python3-venv", "git"} <= set(apt)
    pip = [argv for _, argv in commands if argv[0] == ".venv/bin/pip"]
    assert pip[0][1:] == ["install", "-e", ".[ansible]"]
    assert "ansible =" in (REPO / "setup.cfg").read_text()
    # The wheel lands where the example inventory's satosa_efos_package_file looks for it.
    wheel_dir = option(pip[1], "-w")
    example = (EXAMPLE / "group_vars" / "satosa_efos" / "vars.yml").read_text()
    assert wheel_dir == ["dist"] and "{{ playbook_dir }}/../dist/satosa_efos-" in example


def test_the_login_it_describes_is_the_demo_peers_and_a_demo_user(walk_through, commands):
    parser = build_parser()
    app_port = parser.parse_args(["demo"]).app_port
    assert f"http://localhost:{app_port}/" in walk_through
    eva = next(u for u in load_demo_users() if u.username == "eva")
    assert (eva.idp, eva.password) == ("goteborg", "demo")
    assert f"`{eva.attributes['mail'][0]}`" in walk_through and "as `eva`, password `demo`" in (
        walk_through
    )
    # /readyz on the port the role gives gunicorn (try-on-localhost.yml does not change it).
    defaults = yaml.safe_load((ANSIBLE / "roles/satosa_efos/defaults/main.yml").read_text())
    curls = [argv for _, argv in commands if argv[0] == "curl"]
    port = defaults["satosa_efos_listen_port"]
    assert any(f"http://127.0.0.1:{port}/readyz" in argv for argv in curls)
    assert "satosa_efos_listen_port" not in (EXAMPLE / "try-on-localhost.yml").read_text()


def test_the_files_and_links_it_names_exist(walk_through):
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", walk_through):
        assert (WALK_THROUGH.parent / link).exists(), link
    for path in re.findall(r"`((?:ansible|docs|conf|tests|plugins)/[^`\s]+)`", walk_through):
        assert (REPO / path).exists(), path
