"""Benchmark: organisation routing over the real 50-party registry and a 300-party one.

Routing runs once per login, before anything else; its cost must not grow with the number of
organisations (DESIGN.md §6: look-ups, not scans). This routes the same mix of 10,000 requests
(hints, e-mail domains, HSA-id principal selection, remembered choices, picker answers) over the
registry in conf/organisations.yaml and over a synthetic registry six times as large, and prints
the cost per request of each and their ratio.

    .venv/bin/python tests/bench/bench_routing.py [--requests 10000] [--repeat 5]

Stock SATOSA has no organisation routing to compare with; the comparison that matters here is
50 against 300 organisations, in the same run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from satosa_efos.config.models import Application, LoginMethod, Organisation
from satosa_efos.config.registries import validate_entries
from satosa_efos.config.source import load_document
from satosa_efos.identity.luhn import luhn_check_digit
from satosa_efos.organisations import routing
from satosa_efos.organisations.registry import OrganisationRegistry

REPO = Path(__file__).resolve().parents[2]


def real_organisations() -> list[Organisation]:
    doc = load_document(REPO / "conf" / "organisations.yaml")
    entries, problems = validate_entries(doc, "organisations", Organisation)
    assert not problems, problems
    return [org for _, org in entries]


def synthetic(n: int) -> list[Organisation]:
    """``n`` made-up organisations with Luhn-valid numbers in a range no real one uses."""
    organisations = []
    for i in range(n):
        nine = f"21200{5000 + i:04d}"
        number = nine + str(luhn_check_digit(nine))
        organisations.append(
            Organisation(
                id=f"synthetic-{i}",
                name=f"Syntetisk kommun {i}",
                kind="municipality",
                organisation_number=number,
                domains=[f"synthetic{i}.example.se"],
                login_methods=[LoginMethod.OWN_IDP, LoginMethod.EFOS_MOBILE],
                own_idp={"entity_id": f"https://idp.synthetic{i}.example.se/saml"},
            )
        )
    return organisations


def requests_for(registry: OrganisationRegistry, count: int, seed: int = 7):
    application = Application(
        id="bench", name="Bench", protocol="saml", entity_id="https://bench.example.se/sp",
        metadata="x.xml", allowed_organisations="all", released_attributes=["givenName"],
    )  # fmt: skip
    rng = random.Random(seed)
    orgs = list(registry.organisations)
    made = []
    for _ in range(count):
        org = rng.choice(orgs)
        kind = rng.randrange(6)
        if kind == 0:
            made.append(routing.RoutingInput(application, org_hint=org.id))
        elif kind == 1 and org.domains:
            made.append(routing.RoutingInput(application, typed_email=f"x@{org.domains[0]}"))
        elif kind == 2:
            made.append(routing.RoutingInput(
                application, principal_values=(f"{org.hsa_id_prefix}-E1",)))  # fmt: skip
        elif kind == 3:
            made.append(routing.RoutingInput(application, remembered=org.id))
        elif kind == 4:
            made.append(routing.RoutingInput(application, picked=org.id, method="efos_mobile"))
        else:
            made.append(routing.RoutingInput(application))  # nothing decides: the picker
    return made


def measure(registry: OrganisationRegistry, count: int, repeat: int) -> list[float]:
    policy = routing.RoutingPolicy(frozenset(LoginMethod))
    batch = requests_for(registry, count)
    routing.decide(registry, policy, batch[0])  # warm the per-application cache
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for request in batch:
            routing.decide(registry, policy, request)
        runs.append((time.perf_counter() - start) / count * 1e6)
    return runs


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    real = real_organisations()
    registries = {
        f"{len(real)} organisations": OrganisationRegistry(tuple(real)),
        f"{len(real) + 250} organisations": OrganisationRegistry(tuple(real + synthetic(250))),
    }
    print(f"routing {args.requests} requests, best and median of {args.repeat} runs")
    figures = {}
    for label, registry in registries.items():
        runs = measure(registry, args.requests, args.repeat)
        figures[label] = min(runs)
        print(f"  {label:18} {min(runs):7.2f} µs/request best   {statistics.median(runs):7.2f}"
              " µs/request median")  # fmt: skip
    small, large = figures.values()
    print(f"  ratio (300 / 50): {large / small:.2f}")
    return figures


if __name__ == "__main__":
    main()
