"""The benchmark scripts keep working (a smoke run; the figures themselves are not asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_routing_benchmark_runs_and_reports_both_registry_sizes(capsys):
    spec = importlib.util.spec_from_file_location("bench_routing", BENCH / "bench_routing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--requests", "300", "--repeat", "1"])
    assert list(figures) == ["50 organisations", "300 organisations"]
    assert "ratio (300 / 50)" in capsys.readouterr().out
