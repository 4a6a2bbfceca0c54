"""Benchmark: HSA look-ups against a real OpenLDAP slapd holding 100,000 generated people.

Generates a directory of fictional people (DOMAIN.md §10: HSA-ids in the real format under the
public organisation numbers of the region and three municipalities; no personnummer, as only a
handful of published test numbers exist; 0-3 commissions each), bulk-loads it into a slapd started
on a free loopback port with the project's test schema and equality indexes, then looks people up
through the proxy's own LDAP client (``satosa_efos.hsa.ldap.LdapDirectory``: person, then the
person's commissions, mapped to the model):

* **cold cache**: every look-up is a different person, so each one goes to slapd;
* **warm cache**: the same people again through the per-person cache (hsa/cache.py), as in a
  burst of logins where the commission page asks a second time.

Prints look-ups per second and latency (p50 / p95) for each, with 1 and 4 threads, the load time,
and the warm/cold ratio; ``--json`` writes the figures for tracking.

    .venv/bin/python tests/bench/bench_hsa.py [--people 100000] [--lookups 5000] [--json out.json]

Stock SATOSA has no HSA look-up to compare with; cold against warm cache is the comparison here.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.slapd import Slapd  # noqa: E402

from satosa_efos.hsa.cache import CachedDirectory  # noqa: E402
from satosa_efos.hsa.ldap import LdapDirectory  # noqa: E402

#: Public organisation numbers (DOMAIN.md §6, §10): the region and three municipalities.
ORGANISATIONS = {
    "2321000131": "Västra Götalandsregionen",
    "2120001355": "Göteborgs Stad",
    "2120001561": "Borås Stad",
    "2120001439": "Ale kommun",
}
PURPOSES = ("Vård och behandling", "Administration", "Uppföljning")
RIGHTS = ("Läsa;alla;SJF", "Läsa;alla;VG", "Skriva;alla;VE", "Läsa;akt;VE")
UNITS_PER_ORGANISATION = 25


def person_hsa_id(org_no: str, n: int) -> str:
    """``SE<orgnr>-B<9 digits>``: B for benchmark people, apart from the demo's E… ids."""
    return f"SE{org_no}-B{n:09d}"


def generate_ldif(people: int, seed: int = 5) -> Iterator[str]:
    """LDIF text, record by record, for ``people`` fictional people and their commissions."""
    rng = random.Random(seed)
    yield "version: 1\n\ndn: c=SE\nobjectClass: top\nobjectClass: country\nc: SE\n"
    orgs = list(ORGANISATIONS.items())
    for org_no, name in orgs:
        yield f"\ndn: o={name},c=SE\nobjectClass: top\nobjectClass: organization\no: {name}\n"
        for u in range(UNITS_PER_ORGANISATION):
            yield (
                f"\ndn: ou=Enhet {u},o={name},c=SE\nobjectClass: top\n"
                f"objectClass: organizationalUnit\nou: Enhet {u}\n"
                f"hsaIdentity: SE{org_no}-U{u:09d}\n"
            )
    for n in range(people):
        org_no, name = orgs[n % len(orgs)]
        unit = rng.randrange(UNITS_PER_ORGANISATION)
        hsa_id = person_hsa_id(org_no, n)
        dn = f"cn=Person {n},ou=Enhet {unit},o={name},c=SE"
        yield (
            f"\ndn: {dn}\nobjectClass: top\nobjectClass: person\nobjectClass: hsaPerson\n"
            f"cn: Person {n}\nhsaIdentity: {hsa_id}\ngivenName: Förnamn{n}\n"
            f"sn: Efternamn{n}\nmail: person{n}@bench.example.se\ntitle: Sjuksköterska\n"
            f"paTitleCode: 204010\n"
        )
        for c in range(rng.choice((0, 1, 1, 1, 2, 3))):
            rights = "".join(f"hsaCommissionRight: {r}\n" for r in rng.sample(RIGHTS, 2))
            yield (
                f"\ndn: cn=Uppdrag {n}-{c},ou=Enhet {unit},o={name},c=SE\nobjectClass: top\n"
                f"objectClass: hsaCommission\ncn: Uppdrag {n}-{c}\n"
                f"hsaIdentity: SE{org_no}-C{n:08d}{c}\n"
                f"hsaCommissionPurpose: {PURPOSES[c]}\n{rights}"
                f"hsaCommissionMember: {dn}\n"
                f"hsaHealthCareUnitHsaId: SE{org_no}-U{unit:09d}\n"
                f"hsaHealthCareUnitName: Enhet {unit}\n"
                f"hsaHealthCareProviderHsaId: SE{org_no}-F000000000001\n"
                f"hsaHealthCareProviderName: {name}\n"
                f"hsaHealthCareProviderOrgNo: {org_no}\n"
            )


def timed(lookup: Callable[[str], object], keys: Sequence[str], threads: int) -> dict:
    """Look every key up once with ``threads`` threads; look-ups per second and latency."""
    latencies: list[float] = []

    def one(key: str) -> None:
        start = time.perf_counter()
        if lookup(key) is None:
            raise AssertionError(f"{key} not found")
        latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, keys))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "lookups": len(keys),
        "threads": threads,
        "per_second": round(len(keys) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    lookups = min(args.lookups, args.people)

    figures: dict = {"people": args.people}
    with tempfile.TemporaryDirectory(prefix="bench-hsa-") as tmp:
        ldif = Path(tmp) / "people.ldif"
        start = time.perf_counter()
        with ldif.open("w", encoding="utf-8") as out:
            out.writelines(generate_ldif(args.people))
        figures["generate_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        with Slapd([ldif], work_dir=Path(tmp) / "slapd") as slapd:
            figures["load_and_start_s"] = round(time.perf_counter() - start, 2)
            rng = random.Random(11)
            orgs = list(ORGANISATIONS)
            chosen = rng.sample(range(args.people), lookups)
            keys = [person_hsa_id(orgs[n % len(orgs)], n) for n in chosen]
            half = len(keys) // 2
            directory = LdapDirectory(
                urls=[slapd.url], bind_dn=slapd.bind_dn, password=slapd.password, pool_size=4
            )
            cache = CachedDirectory(directory, ttl=600, max_entries=len(keys) + 1)

            def lookup(key: str) -> object:
                return cache.find_person(hsa_id=key)

            # Cold: two disjoint halves of the people, so every look-up reaches slapd.
            figures["cold_1_thread"] = timed(lookup, keys[:half], 1)
            figures["cold_4_threads"] = timed(lookup, keys[half:], 4)
            figures["warm_1_thread"] = timed(lookup, keys, 1)
            figures["warm_4_threads"] = timed(lookup, keys, 4)
            figures["directory_asked"] = cache.misses
            directory.close()

    cold = figures["cold_1_thread"]["per_second"]
    warm = figures["warm_1_thread"]["per_second"]
    figures["ratio_warm_over_cold"] = round(warm / cold, 1)
    print(f"HSA look-ups against slapd, {args.people:,} generated people")
    print(f"  generate LDIF {figures['generate_s']} s, slapadd + start "
          f"{figures['load_and_start_s']} s")  # fmt: skip
    for name in ("cold_1_thread", "cold_4_threads", "warm_1_thread", "warm_4_threads"):
        f = figures[name]
        print(f"  {name:15} {f['lookups']:6} look-ups  {f['per_second']:10,.1f} /s  "
              f"p50 {f['p50_ms']:8.3f} ms  p95 {f['p95_ms']:8.3f} ms")  # fmt: skip
    print(f"  ratio warm / cold (1 thread): {figures['ratio_warm_over_cold']}")
    print(f"  directory asked {figures['directory_asked']} times for {3 * len(keys)} look-ups")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
