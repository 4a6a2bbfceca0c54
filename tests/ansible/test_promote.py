"""satosa-efos-promote: the swap of a checked staging tree for the live one, and the rollback."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import stat
from pathlib import Path

import pytest
from ansible_helpers import ANSIBLE

SCRIPT = ANSIBLE / "roles" / "satosa_efos" / "files" / "satosa-efos-promote"


@pytest.fixture(scope="module")
def promote():
    loader = importlib.machinery.SourceFileLoader("satosa_efos_promote", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_first_promotion_creates_live(promote, tmp_path):
    staging = write(tmp_path / "staging", {"conf/proxy_conf.yaml": "BASE: x\n"})
    (staging / "conf").joinpath("keys").mkdir()
    key = write(staging, {"conf/keys/frontend.key": "KEY"}) / "conf/keys/frontend.key"
    key.chmod(0o600)

    assert promote.main([str(staging), str(tmp_path / "live")]) == 0

    live_key = tmp_path / "live/conf/keys/frontend.key"
    assert live_key.read_text() == "KEY"
    assert stat.S_IMODE(live_key.stat().st_mode) == 0o600


def test_unchanged_tree_is_not_swapped(promote, tmp_path, capsys):
    staging = write(tmp_path / "staging", {"conf/a.yaml": "a"})
    live, previous = tmp_path / "live", tmp_path / "previous"
    promote.main([str(staging), str(live), "--previous", str(previous)])
    inode = live.stat().st_ino
    capsys.readouterr()

    promote.main([str(staging), str(live), "--previous", str(previous)])

    assert capsys.readouterr().out.strip() == "unchanged"
    assert live.stat().st_ino == inode and not previous.exists()


def test_changed_tree_is_swapped_whole_and_the_old_one_kept(promote, tmp_path, capsys):
    staging = write(tmp_path / "staging", {"conf/a.yaml": "old", "conf/gone.yaml": "x"})
    live, previous = tmp_path / "live", tmp_path / "previous"
    promote.main([str(staging), str(live), "--previous", str(previous)])
    (staging / "conf/gone.yaml").unlink()
    (staging / "conf/a.yaml").write_text("new")
    old_live = os.open(live / "conf", os.O_RDONLY)  # a worker's working directory
    capsys.readouterr()

    promote.main([str(staging), str(live), "--previous", str(previous)])

    assert capsys.readouterr().out.strip() == "promoted"
    assert (live / "conf/a.yaml").read_text() == "new"
    assert not (live / "conf/gone.yaml").exists()
    assert (previous / "conf/a.yaml").read_text() == "old"
    # A running worker still sees the complete old tree until it is reloaded.
    assert sorted(os.listdir(old_live)) == ["a.yaml", "gone.yaml"]
    os.close(old_live)


def test_a_mode_change_alone_is_a_change(promote, tmp_path, capsys):
    staging = write(tmp_path / "staging", {"conf/keys/k.key": "K"})
    live = tmp_path / "live"
    promote.main([str(staging), str(live)])
    (staging / "conf/keys/k.key").chmod(0o600)
    capsys.readouterr()

    promote.main([str(staging), str(live)])

    assert capsys.readouterr().out.strip() == "promoted"
    assert stat.S_IMODE((live / "conf/keys/k.key").stat().st_mode) == 0o600


def test_rollback_exchanges_live_and_previous(promote, tmp_path, capsys):
    staging = write(tmp_path / "staging", {"conf/a.yaml": "one"})
    live, previous = tmp_path / "live", tmp_path / "previous"
    promote.main([str(staging), str(live), "--previous", str(previous)])
    (staging / "conf/a.yaml").write_text("two")
    promote.main([str(staging), str(live), "--previous", str(previous)])
    capsys.readouterr()

    promote.main([str(staging), str(live), "--previous", str(previous), "--rollback"])

    assert capsys.readouterr().out.strip() == "rolled back"
    assert (live / "conf/a.yaml").read_text() == "one"
    assert (previous / "conf/a.yaml").read_text() == "two"
