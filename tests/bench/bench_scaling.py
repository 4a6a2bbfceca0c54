"""Benchmark: how this proxy scales with workers, registry size and federation metadata size.

Three parts, one run, each starting this proxy (conf/demo as in bench_saml.py: ``ours_conf``)
under gunicorn on loopback and driving complete brokered SAML logins from client processes with
bench_saml's peers (SP -> proxy -> Borås's IdP -> proxy -> SP; the user is the demo's Cecilia
Holm, routed by the ``org=boras`` hint):

1. workers: 1, 2 and 4 gunicorn workers at the highest ``--clients`` level (16): logins per
   second, p50/p95, proxy CPU per login, peak RSS per worker.
2. registry size: the registry cut down to or grown to each ``--organisations`` size (50 is the
   demo registry as it is; above that, generated municipalities, each with its own IdP
   entityID, domains, names and an IdP metadata file in the backend's metadata folder; below it,
   the first entries of the regional registry, keeping those the demo changes); only Borås is
   logged into. Per-login CPU and logins per second at each ``--clients`` level, worker start
   time and RSS.
3. federation: the same proxy with and without a generated signed aggregate of ``--entities``
   IdPs (5,000) in the organisation-IdP backend's ``federation:`` setting. Borås's demo IdP,
   the one logged into, stays in its own metadata file (``metadata/idp/``), not in the
   aggregate, so every login looks its IdP up beside the aggregate. Worker load time, RSS per
   worker and per-login CPU with and without.

Every generated configuration passes ``satosa-efos check-config`` before it is started (the run
stops with its problems otherwise). Per configuration it reports:

- ready s: from starting gunicorn to the first 200 answer of ``/readyz`` (the first worker has
  loaded the configuration);
- loaded s: until every worker has loaded it (each worker's own CPU time has stopped growing
  and it has no child process such as xmlsec1), measured before any login, so that no worker's
  start is counted as login CPU;
- RSS MB/worker: the largest worker's resident memory once all are loaded (before logins), and
  its peak (VmHWM) at the end, loading included;
- per ``--clients`` level, bench_saml's figures: logins/s, p50/p95 latency, the proxy's CPU per
  login (gunicorn master and workers, from /proc), the peers' CPU per login (they run on the
  same CPUs, in the client processes), failed logins.

Then the ratios: n workers / 1 worker, each registry size / the first, with / without the
aggregate. Parts 2 and 3 run with ``--base-workers`` (2, as bench_saml). ``--quick`` is a smoke
run with tiny numbers (tests/flows/test_bench_scripts.py).

    .venv/bin/python tests/bench/bench_scaling.py [--workers 1,2,4] [--clients 1,16] \\
        [--organisations 50,300] [--entities 5000] [--logins 120] [--base-workers 2] \\
        [--parts workers,registry,federation] [--json out.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_saml, bench_federation
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # helpers

import bench_saml  # noqa: E402
from bench_federation import entity_files  # noqa: E402
from bench_saml import (  # noqa: E402
    CLK_TCK,
    ORGANISATION,
    Layout,
    make_peers,
    ours_conf,
    prepare,
    run_level,
    worker_peak_rss_mb,
)
from helpers.aggregate import build_aggregate  # noqa: E402

from satosa_efos import demo  # noqa: E402
from satosa_efos.identity.luhn import luhn_check_digit  # noqa: E402
from satosa_efos.keys import ensure_keypair  # noqa: E402
from satosa_efos.processes import Server, gunicorn_argv  # noqa: E402
from satosa_efos.simulators import demo_idp  # noqa: E402
from satosa_efos.xmlsec.backend import ENVIRONMENT  # noqa: E402

APP = "satosa_efos.app:create_app()"
BACKEND_FILE = Path("plugins") / "backends" / "organisation_idps.yaml"
REGIONAL_FILE = Path("organisations") / "00-regional.yaml"
DEMO_CHANGES_FILE = Path("organisations") / "10-demo-idps.yaml"
#: The most generated organisations (their numbers 212005-000x ... 212005-499x, unused by any
#: real party, like bench_routing.py's).
MAX_GENERATED = 5000
#: A worker counts as loaded once its CPU time grows by less than this per sample...
IDLE_CPU_SECONDS = 0.03
SAMPLE_SECONDS = 0.1
#: ...for this long, with no child process.
QUIET_SECONDS = 0.6

FULL = {"workers": [1, 2, 4], "clients": [1, 16], "organisations": [50, 300], "entities": 5000,
        "logins": 120, "warmup": 4, "base_workers": 2}  # fmt: skip
QUICK = {"workers": [1], "clients": [1, 2], "organisations": [5, 52], "entities": 50,
         "logins": 4, "warmup": 1, "base_workers": 1}  # fmt: skip


# -- configurations ------------------------------------------------------------------------


def copy_conf(base: Path, root: Path, name: str) -> Path:
    """A copy of ``ours_conf``'s directory (``conf-ours/demo`` and its internal_attributes)."""
    target = root / f"conf-{name}"
    shutil.copytree(base.parent, target)
    return target / base.name


def _edit_backend(conf: Path, change) -> None:
    path = conf / BACKEND_FILE
    data = yaml.safe_load(path.read_text())
    change(data["config"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def generated_organisation(i: int) -> dict:
    """A municipality that does not exist, with its own IdP, as an admin would register it."""
    nine = f"21200{5000 + i:04d}"
    slug = f"testkommun{i:04d}"
    return {
        "id": slug,
        "name": f"Testkommun {i:04d}",
        "name_en": f"Test Municipality {i:04d}",
        "kind": "municipality",
        "organisation_number": f"{nine[:6]}-{nine[6:]}{luhn_check_digit(nine)}",
        "domains": [f"{slug}.example.se", f"edu.{slug}.example.se"],
        "login_methods": ["own_idp", "efos_mobile"],
        "own_idp": {"entity_id": f"https://idp.{slug}.example.se/idp"},
        "scope_attributes": ["mail", "employeeHsaId", "allEmployeeHsaIds"],
        "placeholders": [],
    }


def registry_conf(base: Path, root: Path, size: int, keys: Path) -> tuple[Path, int]:
    """A copy of the configuration whose registry has ``size`` organisations; (conf, how many
    of them were generated). Generated ones get an IdP metadata file each, in a folder added to
    the organisation-IdP backend's ``metadata.local``."""
    conf = copy_conf(base, root, f"registry-{size}")
    regional = conf / REGIONAL_FILE
    data = yaml.safe_load(regional.read_text())
    organisations = data["organisations"]
    changes = yaml.safe_load((conf / DEMO_CHANGES_FILE).read_text()).get("changes") or []
    needed = {change["id"] for change in changes} | {ORGANISATION}
    if size < len(needed):
        raise SystemExit(f"--organisations: at least {len(needed)} ({', '.join(sorted(needed))})")
    if size < len(organisations):
        others = size - len(needed)
        kept = []
        for org in organisations:
            if org["id"] in needed:
                kept.append(org)
            elif others > 0:
                kept.append(org)
                others -= 1
        data["organisations"] = kept
        regional.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    generated = max(0, size - len(organisations))
    if generated > MAX_GENERATED:
        raise SystemExit(f"--organisations: at most {len(organisations) + MAX_GENERATED}")
    if generated:
        extra = [generated_organisation(i) for i in range(generated)]
        (conf / "organisations" / "20-bench-generated.yaml").write_text(
            "# Generated by tests/bench/bench_scaling.py: organisations that do not exist.\n"
            + yaml.safe_dump({"organisations": extra}, allow_unicode=True, sort_keys=False)
        )
        key, cert = ensure_keypair(keys, "bench-org-idp", "Bench organisation IdP")
        template_base = "https://idp.template.example.se"
        template = demo_idp.write_metadata(template_base, key, cert, keys / "org-idp-template.xml")
        text = template.read_text()
        folder = conf.parent / "metadata-generated-idps"
        folder.mkdir()
        for org in extra:
            base_url = org["own_idp"]["entity_id"].removesuffix("/idp")
            (folder / f"{org['id']}.xml").write_text(text.replace(template_base, base_url))

        def add_folder(config: dict) -> None:
            config["sp_config"]["metadata"]["local"].append(str(folder))

        _edit_backend(conf, add_folder)
    return conf, generated


def federation_conf(base: Path, root: Path, aggregate: Path, signer_cert: Path) -> Path:
    conf = copy_conf(base, root, "federation")

    def add_federation(config: dict) -> None:
        config["federation"] = [{"file": str(aggregate), "signer_cert": str(signer_cert)}]

    _edit_backend(conf, add_federation)
    return conf


def make_aggregate(root: Path, entities: int) -> dict:
    """``entities`` IdP entities (bench_federation's), signed by a federation key of its own."""
    folder = root / "federation"
    folder.mkdir()
    began = time.perf_counter()
    signer_key, signer_cert = ensure_keypair(folder, "signer", "Bench federation")
    aggregate = build_aggregate(entity_files(folder, entities), signer_key, folder / "agg.xml")
    return {
        "file": aggregate,
        "signer_cert": signer_cert,
        "entities": entities,
        "megabytes": round(aggregate.stat().st_size / 1e6, 1),
        "build_seconds": round(time.perf_counter() - began, 1),
    }


def check_config(layout: Layout, conf: Path) -> None:
    """``satosa-efos check-config`` on a generated configuration; stop the run if it fails."""
    env = {**os.environ, **demo.proxy_env(layout.urls, layout.demo_dir)}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from satosa_efos.cli import main; sys.exit(main())",
         "check-config", str(conf)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(
            f"check-config refuses the generated configuration {conf}:\n{done.stdout}{done.stderr}"
        )


# -- one configuration under gunicorn ------------------------------------------------------


def _own_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def worker_rss_mb(master: int) -> list[float]:
    found = []
    for pid in bench_saml._children(master):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        if match:
            found.append(int(match.group(1)) / 1024)
    return found


def wait_ready(proxy: str, began: float, timeout: float) -> float:
    """Seconds from ``began`` to the first 200 from /readyz (a request sent before any worker
    has loaded waits in the listen queue, so the answer comes as soon as one has)."""
    last = "no answer"
    while (left := began + timeout - time.perf_counter()) > 0:
        try:
            answer = requests.get(f"{proxy}/readyz", timeout=(1, left))
        except requests.ConnectionError:
            time.sleep(0.05)
            continue
        except requests.Timeout:
            break
        if answer.status_code == 200:
            return time.perf_counter() - began
        last = f"{answer.status_code} {answer.text[:500]}"
        time.sleep(0.2)
    raise TimeoutError(f"/readyz did not answer 200 within {timeout} s (last: {last})")


def wait_loaded(master: int, workers: int, began: float, timeout: float) -> float:
    """Seconds from ``began`` until the last worker stopped working (see QUIET_SECONDS)."""
    seen: dict[int, float] = {}
    last_active: dict[int, float] = {}
    while time.perf_counter() - began < timeout:
        now = time.perf_counter()
        pids = bench_saml._children(master)
        for pid in pids:
            try:
                cpu, busy = _own_cpu(pid), bool(bench_saml._children(pid))
            except FileNotFoundError:
                continue
            if pid not in seen or busy or cpu - seen[pid] >= IDLE_CPU_SECONDS:
                last_active[pid] = now
            seen[pid] = cpu
        current = [pid for pid in pids if pid in last_active]
        if len(current) >= workers and now - max(last_active[p] for p in current) >= QUIET_SECONDS:
            return max(last_active[p] for p in current) - began
        time.sleep(SAMPLE_SECONDS)
    raise TimeoutError(f"the {workers} workers were still busy after {timeout} s")


def _log_tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_conf(label: str, layout: Layout, conf: Path, workers: int, clients: list[int],
             args) -> dict:  # fmt: skip
    """Start the proxy on ``conf``, wait for every worker, warm up, run each clients level."""
    url = urlsplit(layout.urls.proxy)
    env = {**demo.proxy_env(layout.urls, layout.demo_dir), "SATOSA_EFOS_CONF_DIR": str(conf),
           ENVIRONMENT: os.environ.get(ENVIRONMENT, "")}  # fmt: skip
    log = layout.root / f"{label}.log"
    argv = gunicorn_argv(APP, f"{url.hostname}:{url.port}", workers)
    server = Server(label, argv, url.hostname, url.port, env, log)
    print(f"  {label}: {workers} worker(s) ...", end="", flush=True)
    began = time.perf_counter()
    try:
        server.start(timeout=args.start_timeout)
        master = server.process.pid
        ready = wait_ready(layout.urls.proxy, began, args.start_timeout)
        loaded = wait_loaded(master, workers, began, args.start_timeout)
        rss_loaded = worker_rss_mb(master)
        warm = run_level(server, layout.urls.proxy, ORGANISATION, workers, args.warmup * workers)
        if warm["logins"] == 0:
            raise RuntimeError("no warm-up login succeeded")
        levels = [
            run_level(server, layout.urls.proxy, ORGANISATION, n, args.logins) for n in clients
        ]
        rss_after = worker_rss_mb(master)
        peaks = worker_peak_rss_mb(master)
    except BaseException:
        print(f"\n{label} failed; the end of its log {log}:\n{_log_tail(log)}", file=sys.stderr)
        raise
    finally:
        server.stop()
    print(f" ready {ready:.1f} s, loaded {loaded:.1f} s, "
          + ", ".join(f"{lv['logins_per_second']:.1f} logins/s at {lv['clients']}"
                      for lv in levels), flush=True)  # fmt: skip
    return {
        "label": label,
        "workers": workers,
        "ready_seconds": round(ready, 2),
        "all_workers_loaded_seconds": round(loaded, 2),
        "rss_mb_per_worker_loaded": round(max(rss_loaded), 1) if rss_loaded else None,
        "rss_mb_per_worker_after": round(max(rss_after), 1) if rss_after else None,
        "peak_rss_mb_per_worker": round(max(peaks), 1) if peaks else None,
        "levels": levels,
    }


# -- the three parts -----------------------------------------------------------------------


def _ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def part_workers(layout: Layout, base: Path, args) -> dict:
    clients = max(args.clients)
    runs = [run_conf(f"workers-{n}", layout, base, n, [clients], args) for n in args.workers]
    first = runs[0]["levels"][0]
    ratios = [
        {
            "workers": run["workers"],
            "over_workers": runs[0]["workers"],
            "throughput": _ratio(run["levels"][0]["logins_per_second"],
                                 first["logins_per_second"]),
            "cpu_per_login": _ratio(run["levels"][0]["proxy_cpu_ms_per_login"],
                                    first["proxy_cpu_ms_per_login"], 3),
        }
        for run in runs[1:]
    ]  # fmt: skip
    return {"clients": clients, "runs": runs, "ratios": ratios}


def part_registry(layout: Layout, base: Path, args) -> dict:
    runs = []
    for size in args.organisations:
        conf, generated = registry_conf(base, layout.root, size, layout.root / "bench-keys")
        check_config(layout, conf)
        idp_files = count_idp_metadata(conf, layout)
        run = run_conf(f"organisations-{size}", layout, conf, args.base_workers, args.clients,
                       args)  # fmt: skip
        runs.append({"organisations": size, "generated": generated,
                     "idp_metadata_files": idp_files, **run})  # fmt: skip
    return {"runs": runs, "ratios": _compare(runs, "organisations")}


def count_idp_metadata(conf: Path, layout: Layout) -> int:
    """IdP metadata files the backend loads (``metadata.local``: files and folders of them)."""
    local = yaml.safe_load((conf / BACKEND_FILE).read_text())["config"]["sp_config"]["metadata"]
    count = 0
    for entry in local["local"]:
        # conf/demo names the demo's folder as ${SATOSA_EFOS_DEMO_DIR:-...}/metadata/idp
        path = Path(re.sub(r"\$\{SATOSA_EFOS_DEMO_DIR:-[^}]*\}", str(layout.demo_dir), entry))
        path = path if path.is_absolute() else conf / path
        count += len(list(path.glob("*.xml"))) if path.is_dir() else int(path.exists())
    return count


def part_federation(layout: Layout, base: Path, args) -> dict:
    made = make_aggregate(layout.root, args.entities)
    print(f"  aggregate: {made['entities']} entities, {made['megabytes']} MB, built and signed "
          f"in {made['build_seconds']} s", flush=True)  # fmt: skip
    conf = federation_conf(base, layout.root, made["file"], made["signer_cert"])
    check_config(layout, conf)
    runs = [
        {"aggregate": False, **run_conf("without-aggregate", layout, base, args.base_workers,
                                        args.clients, args)},
        {"aggregate": True, **run_conf("with-aggregate", layout, conf, args.base_workers,
                                       args.clients, args)},
    ]  # fmt: skip
    return {
        "entities": made["entities"],
        "aggregate_megabytes": made["megabytes"],
        "aggregate_build_seconds": made["build_seconds"],
        "logged_in_idp": "Borås's demo IdP, in its own file in metadata/idp/, not in the aggregate",
        "runs": runs,
        "ratios": _compare(runs, "aggregate"),
    }


def _compare(runs: list[dict], key: str) -> list[dict]:
    """Every run against the first one: start, memory, and per level CPU and throughput."""
    first = runs[0]
    found = []
    for run in runs[1:]:
        entry = {
            key: run[key],
            f"over_{key}": first[key],
            "ready_seconds_added": round(run["ready_seconds"] - first["ready_seconds"], 2),
            "loaded_seconds_added": round(
                run["all_workers_loaded_seconds"] - first["all_workers_loaded_seconds"], 2
            ),
            "rss_mb_per_worker_added": _difference(run, first, "rss_mb_per_worker_loaded"),
            "peak_rss_mb_per_worker_added": _difference(run, first, "peak_rss_mb_per_worker"),
            "levels": [],
        }
        for a, b in zip(first["levels"], run["levels"], strict=True):
            entry["levels"].append(
                {
                    "clients": a["clients"],
                    "cpu_per_login": _ratio(
                        b["proxy_cpu_ms_per_login"], a["proxy_cpu_ms_per_login"], 3
                    ),
                    "cpu_ms_per_login_added": round(
                        b["proxy_cpu_ms_per_login"] - a["proxy_cpu_ms_per_login"], 1
                    ),
                    "throughput": _ratio(b["logins_per_second"], a["logins_per_second"]),
                }
            )
        found.append(entry)
    return found


def _difference(run: dict, first: dict, key: str) -> float | None:
    if run[key] is None or first[key] is None:
        return None
    return round(run[key] - first[key], 1)


# -- output --------------------------------------------------------------------------------

COLUMNS = (f"{'clients':>8}{'logins':>7}{'logins/s':>10}{'p50 ms':>8}{'p95 ms':>8}"
           f"{'proxy CPU ms/login':>20}{'peers CPU':>11}{'ready s':>9}{'loaded s':>10}"
           f"{'RSS MB/w':>10}{'peak MB/w':>11}")  # fmt: skip


def _row(first: str, run: dict, level: dict) -> str:
    lat = level["latency_ms"]
    return (f"{first}{level['clients']:>8}{level['logins']:>7}{level['logins_per_second']:>10.2f}"
            f"{lat['p50']:>8.0f}{lat['p95']:>8.0f}{level['proxy_cpu_ms_per_login']:>20.1f}"
            f"{level['peers_cpu_ms_per_login']:>11.1f}"
            f"{run['ready_seconds']:>9.1f}{run['all_workers_loaded_seconds']:>10.1f}"
            f"{run['rss_mb_per_worker_loaded'] or 0:>10.0f}"
            f"{run['peak_rss_mb_per_worker'] or 0:>11.0f}"
            + (f"  ({level['failed']} failed)" if level["failed"] else ""))  # fmt: skip


def _table(title: str, heading: str, width: int, rows: list[tuple[str, dict]]) -> None:
    print(f"\n{title}")
    header = f"{heading:<{width}}{COLUMNS}"
    print(header)
    print("-" * len(header))
    for first, run in rows:
        for level in run["levels"]:
            print(_row(f"{first:<{width}}", run, level))


def print_figures(figures: dict) -> None:
    machine = figures["machine"]
    print(f"\n{machine['cpus']} CPUs, load average {machine['load_average_at_start']} at the "
          f"start, {machine['load_average_at_end']} at the end; the peers (SP and IdP, in the "
          "client processes) share these CPUs: peers CPU = their ms per login")  # fmt: skip
    if "workers" in figures:
        part = figures["workers"]
        _table(f"1. workers, {part['clients']} clients", "workers", 9,
               [(str(run["workers"]), run) for run in part["runs"]])  # fmt: skip
        for ratio in part["ratios"]:
            print(
                f"{ratio['workers']} workers / {ratio['over_workers']}: logins/s "
                f"x{ratio['throughput']}, proxy CPU per login x{ratio['cpu_per_login']}"
            )
    if "registry" in figures:
        part = figures["registry"]
        _table(f"2. registry size, {figures['base_workers']} worker(s)", "orgs (IdP files)", 17,
               [(f"{run['organisations']} ({run['idp_metadata_files']})", run)
                for run in part["runs"]])  # fmt: skip
        for ratio in part["ratios"]:
            _print_comparison(f"{ratio['organisations']} / {ratio['over_organisations']} orgs",
                              ratio)  # fmt: skip
    if "federation" in figures:
        part = figures["federation"]
        _table(f"3. federation aggregate of {part['entities']} entities "
               f"({part['aggregate_megabytes']} MB), {figures['base_workers']} worker(s); "
               f"logged into: {part['logged_in_idp']}", "aggregate", 11,
               [("with" if run["aggregate"] else "without", run)
                for run in part["runs"]])  # fmt: skip
        for ratio in part["ratios"]:
            _print_comparison("with / without aggregate", ratio)


def _print_comparison(label: str, ratio: dict) -> None:
    for level in ratio["levels"]:
        print(f"{label} at {level['clients']:>2} clients: proxy CPU per login "
              f"x{level['cpu_per_login']} ({level['cpu_ms_per_login_added']:+.1f} ms), "
              f"logins/s x{level['throughput']}")  # fmt: skip
    print(f"{label}: start {ratio['ready_seconds_added']:+.1f} s to ready, "
          f"{ratio['loaded_seconds_added']:+.1f} s until every worker loaded; RSS per worker "
          f"{_signed(ratio['rss_mb_per_worker_added'])} MB loaded, "
          f"{_signed(ratio['peak_rss_mb_per_worker_added'])} MB peak")  # fmt: skip


def _signed(value: float | None) -> str:
    return "?" if value is None else f"{value:+.0f}"


# -- main ----------------------------------------------------------------------------------


def _numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=_numbers, help="worker counts of part 1 (1,2,4)")
    parser.add_argument("--clients", type=_numbers,
                        help="concurrency levels (1,16); part 1 uses the highest")  # fmt: skip
    parser.add_argument("--organisations", type=_numbers, help="registry sizes (50,300)")
    parser.add_argument("--entities", type=int, help="entities in the aggregate (5000)")
    parser.add_argument("--logins", type=int, help="logins per level (120)")
    parser.add_argument("--warmup", type=int, help="warm-up logins per worker (4)")
    parser.add_argument("--base-workers", type=int,
                        help="workers in parts 2 and 3 (2, bench_saml's)")  # fmt: skip
    parser.add_argument("--parts", default="workers,registry,federation",
                        help="which parts to run (workers,registry,federation)")  # fmt: skip
    parser.add_argument("--start-timeout", type=float, default=600,
                        help="seconds a configuration may take to start")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--quick", action="store_true",
                        help="tiny numbers (a smoke run): " + ", ".join(
                            f"{k} {v}" for k, v in QUICK.items()))  # fmt: skip
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(args.parts) - {"workers", "registry", "federation"}
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    figures: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "crypto_backend": os.environ.get(ENVIRONMENT) or "as configured (inprocess)",
        "logins_per_level": args.logins,
        "clients": args.clients,
        "base_workers": args.base_workers,
    }  # fmt: skip
    print(f"{os.cpu_count()} CPUs (load average {figures['machine']['load_average_at_start']}), "
          f"{args.logins} logins per level, clients {args.clients}; parts 2 and 3 with "
          f"{args.base_workers} worker(s)", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        layout = Layout(Path(tmp), demo.DemoUrls.free())
        prepare(layout)
        base = ours_conf(layout)
        check_config(layout, base)
        bench_saml._PEERS = make_peers(layout)  # inherited by the forked clients
        if "workers" in args.parts:
            print("1. workers", flush=True)
            figures["workers"] = part_workers(layout, base, args)
        if "registry" in args.parts:
            print("2. registry size", flush=True)
            figures["registry"] = part_registry(layout, base, args)
        if "federation" in args.parts:
            print("3. federation metadata", flush=True)
            figures["federation"] = part_federation(layout, base, args)
    figures["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print_figures(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
