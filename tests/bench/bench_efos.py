"""Benchmark: concurrent Mobilt Efos logins through the proxy and the Efos SIMULATOR.

Starts the demo on free loopback ports (the proxy under gunicorn with several workers, the
simulator, the demo application), then runs N browsers at once, each logging in with Mobilt Efos:
application -> organisation picker -> QR page -> polling /efos/status until the simulator's
"phone" approves -> /efos/complete -> the application's attribute page. An approver thread plays
every user's phone. Prints logins per second, the number completed, and the latency of the
poll requests (p50 / p95 / max): each poll is one collect call to the national service, and
nothing in the proxy waits for the user.

    .venv/bin/python tests/bench/bench_efos.py [--clients 10] [--workers 3]

Stock SATOSA has no Mobilt Efos backend to compare with; the figures stand alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.browser import Browser  # noqa: E402
from helpers.stack import start_stack  # noqa: E402

from satosa_efos.processes import stop_all  # noqa: E402


def approver(stack, stop: threading.Event, after: float) -> None:
    """Approve every pending order as a demo user, like many phones at once, each ``after``
    seconds after it started (the time a person takes to scan and enter the code)."""
    seen: dict[str, float] = {}
    while not stop.is_set():
        orders = requests.get(f"{stack.urls.efos_phone}/control/orders", timeout=5).json()
        now = time.monotonic()
        for order in orders["orders"]:
            first = seen.setdefault(order["orderRef"], now)
            if order["status"] == "pending" and now - first >= after:
                requests.post(
                    f"{stack.urls.efos_phone}/control/orders/{order['orderRef']}/approve",
                    json={"user": "david"},
                    timeout=5,
                )
        time.sleep(0.2)


def one_login(stack, polls: list[float], results: list[bool]) -> None:
    browser = Browser()
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    page = browser.submit(picker, having="org", org="ale")
    deadline = time.monotonic() + 60
    # The QR page itself collects once: an order the phone approved already goes straight on.
    while not page.url.startswith(stack.urls.app) and time.monotonic() < deadline:
        started = time.perf_counter()
        reply = browser.get(f"{stack.urls.proxy}/efos/status")
        polls.append(time.perf_counter() - started)
        if reply.status_code != 200:
            break
        if reply.json()["status"] == "complete":
            page = browser.follow(browser.get(f"{stack.urls.proxy}/efos/complete"))
        else:
            time.sleep(1.0)
    attributes = browser.get(f"{stack.urls.app}/sp/attributes.json")
    results.append(
        page.status_code == 200
        and attributes.ok
        and attributes.json()["attributes"].get("personalIdentityNumber") == ["197010632391"]
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument(
        "--approve-after",
        type=float,
        default=3.0,
        help="seconds the phone waits before approving an order",
    )
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args(argv)

    stack = start_stack(Path(tempfile.mkdtemp(prefix="bench-efos-")), workers=args.workers)
    stop = threading.Event()
    polls: list[float] = []
    results: list[bool] = []
    try:
        phone = threading.Thread(
            target=approver, args=(stack, stop, args.approve_after), daemon=True
        )
        phone.start()
        clients = [
            threading.Thread(target=one_login, args=(stack, polls, results))
            for _ in range(args.clients)
        ]
        started = time.perf_counter()
        for client in clients:
            client.start()
        for client in clients:
            client.join(90)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        stop_all(stack.servers)

    completed = sum(results)
    ordered = sorted(polls)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)] if ordered else float("nan")
    figures = {
        "clients": args.clients,
        "completed": completed,
        "seconds": elapsed,
        "logins_per_second": completed / elapsed if elapsed else 0.0,
        "poll_p50_ms": statistics.median(ordered) * 1000 if ordered else float("nan"),
        "poll_p95_ms": p95 * 1000,
        "poll_max_ms": ordered[-1] * 1000 if ordered else float("nan"),
    }
    print(
        f"Mobilt Efos: {completed}/{args.clients} concurrent logins completed in {elapsed:.1f} s "
        f"({figures['logins_per_second']:.2f} logins/s, {args.workers} gunicorn workers; each "
        f"client polls every second; the phone approves {args.approve_after:.0f} s after the start)"
    )
    print(
        f"  /efos/status poll latency over {len(ordered)} polls: "
        f"p50 {figures['poll_p50_ms']:.1f} ms, p95 {figures['poll_p95_ms']:.1f} ms, "
        f"max {figures['poll_max_ms']:.1f} ms"
    )
    return figures


if __name__ == "__main__":
    main()
