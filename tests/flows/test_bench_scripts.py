"""The benchmark scripts keep working (a smoke run; the figures themselves are not asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
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
