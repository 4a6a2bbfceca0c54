"""Benchmark: loading a signed federation aggregate, ours against stock pysaml2's, same run.

Builds an aggregate of N IdP entities (default 5,000, several times Sambi's size), signs it with
xmlsec1, then times per step and in total:

- ours: ``verify_aggregate`` (hardened parse, signature-shape checks, xmlsec1 with the pinned
  key only) + pysaml2's parse into entities = what each worker does at start and per refresh;
- stock: pysaml2's ``MetaDataFile(cert=...)`` with an xmlsec1 security context, which checks
  the signature (but would also accept an unsigned file, and ignores validUntil).

    .venv/bin/python tests/bench/bench_federation.py [--entities 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree
from saml2.attribute_converter import ac_factory
from saml2.mdstore import InMemoryMetaData, MetaDataFile
from saml2.sigver import CryptoBackendXmlSec1, SecurityContext, get_xmlsec_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.aggregate import build_aggregate  # noqa: E402

from satosa_efos.federation.live import FederationMetadata  # noqa: E402
from satosa_efos.federation.settings import FederationSource  # noqa: E402
from satosa_efos.keys import ensure_keypair  # noqa: E402
from satosa_efos.simulators import demo_idp  # noqa: E402
from satosa_efos.xmlsec.metadata import verify_aggregate_file  # noqa: E402


def entity_files(tmp: Path, n: int) -> list[Path]:
    """N entities that differ in entityID and addresses (one key pair: keygen is not measured)."""
    key, cert = ensure_keypair(tmp, "idp", "idp")
    template = demo_idp.write_metadata("https://idp0.example.se", key, cert, tmp / "t.xml")
    text = template.read_text()
    folder = tmp / "entities"
    folder.mkdir()
    files = []
    for i in range(n):
        path = folder / f"{i}.xml"
        path.write_text(text.replace("https://idp0.example.se", f"https://idp{i}.example.se"))
        files.append(path)
    return files


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        signer_key, signer_cert = ensure_keypair(tmp, "signer", "Bench federation")
        start = time.perf_counter()
        aggregate = build_aggregate(entity_files(tmp, args.entities), signer_key, tmp / "agg.xml")
        built = time.perf_counter() - start
        size = aggregate.stat().st_size
        attrc = ac_factory()

        verify, checked = timed(lambda: verify_aggregate_file(aggregate, signer_cert), args.repeat)

        def parse():
            source = InMemoryMetaData(attrc, checked.text)
            source.load()
            return source

        parsed_s, parsed = timed(parse, args.repeat)
        source = FederationSource(file=str(aggregate), signer_cert=str(signer_cert))
        ours, live = timed(lambda: FederationMetadata(attrc, source, watch=False), args.repeat)
        security = SecurityContext(CryptoBackendXmlSec1(get_xmlsec_binary()))

        def stock():
            md = MetaDataFile(attrc, str(aggregate), cert=str(signer_cert), security=security)
            md.load()
            return md

        stock_s, stock_md = timed(stock, args.repeat)
        lookup_s, _ = timed(lambda: [f"https://idp{i}.example.se/idp" in live
                                     for i in range(0, args.entities, 7)], args.repeat)  # fmt: skip
        assert len(live) == len(stock_md) == len(parsed) == args.entities
        root = etree.parse(str(aggregate)).getroot()
        assert len(root) == args.entities + 1
    figures = {
        "build+sign (xmlsec1)": built,
        "verify (ours: checks + xmlsec1)": verify,
        "pysaml2 parse": parsed_s,
        "load total (ours)": ours,
        "load total (stock MetaDataFile)": stock_s,
        "lookup (per entity, us)": lookup_s / len(range(0, args.entities, 7)) * 1e6,
    }
    print(f"aggregate: {args.entities} entities, {size / 1e6:.1f} MB")
    for name, value in figures.items():
        unit = "" if "us" in name else " s"
        print(f"  {name:34} {value:8.3f}{unit}")
    print(f"  ratio (ours / stock)               {ours / stock_s:8.2f}")
    return figures


if __name__ == "__main__":
    main()
