"""The benchmark scripts keep working (a smoke run; the figures themselves are not asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and multiprocessing look modules up by name
    spec.loader.exec_module(module)
    return module


def test_routing_benchmark_runs_and_reports_both_registry_sizes(capsys):
    figures = load("bench_routing").main(["--requests", "300", "--repeat", "1"])
    assert list(figures) == ["50 organisations", "300 organisations"]
    assert "ratio (300 / 50)" in capsys.readouterr().out


def test_efos_benchmark_completes_concurrent_logins(capsys):
    figures = load("bench_efos").main(["--clients", "3", "--approve-after", "0.5"])
    assert figures["completed"] == 3
    assert "poll latency" in capsys.readouterr().out


def test_hsa_benchmark_reports_cold_and_warm_lookups_against_slapd(capsys):
    figures = load("bench_hsa").main(["--people", "2000", "--lookups", "200"])
    assert figures["directory_asked"] == 200  # warm look-ups never reached slapd
    assert "ratio warm / cold" in capsys.readouterr().out


def test_saml_benchmark_compares_stock_satosa_and_this_proxy(capsys, tmp_path):
    figures = load("bench_saml").main(
        ["--logins", "2", "--clients", "1,2", "--workers", "1", "--warmup", "1", "--repeat", "3",
         "--json", str(tmp_path / "saml.json")]
    )  # fmt: skip
    for name in ("stock", "ours"):
        assert [level["clients"] for level in figures[name]["levels"]] == [1, 2]
        assert all(
            level["failed"] == 0 and level["logins"] >= 2 for level in figures[name]["levels"]
        )
    assert figures["crypto_floor"]["floor_ms_per_login"] > 0
    assert "ours / stock at  2 clients" in capsys.readouterr().out
    assert (tmp_path / "saml.json").exists()


def test_scaling_benchmark_reports_workers_registry_size_and_federation_aggregate(capsys, tmp_path):
    figures = load("bench_scaling").main(["--quick", "--json", str(tmp_path / "scaling.json")])
    assert [run["workers"] for run in figures["workers"]["runs"]] == [1]
    registry = figures["registry"]["runs"]
    assert [(run["organisations"], run["generated"]) for run in registry] == [(5, 0), (52, 2)]
    assert registry[1]["idp_metadata_files"] == registry[0]["idp_metadata_files"] + 2
    assert [run["aggregate"] for run in figures["federation"]["runs"]] == [False, True]
    for part in ("workers", "registry", "federation"):
        for run in figures[part]["runs"]:
            assert 0 < run["ready_seconds"] <= run["all_workers_loaded_seconds"]
            assert run["rss_mb_per_worker_loaded"] > 0
            assert all(level["failed"] == 0 and level["logins"] >= 4 for level in run["levels"])
    out = capsys.readouterr().out
    assert "52 / 5 orgs at  1 clients" in out
    assert "with / without aggregate at  2 clients" in out
    assert json.loads((tmp_path / "scaling.json").read_text())["federation"]["entities"] == 50
