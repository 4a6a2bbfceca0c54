"""``satosa-efos``: check a configuration, serve it, make development keys, run the demo."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from satosa_efos.config.proxy import load_proxy_config
from satosa_efos.config.source import Problem


def _print_problems(problems: list[Problem]) -> None:
    for problem in sorted(set(problems), key=lambda p: (p.file, p.line, p.message)):
        print(problem, file=sys.stderr)


def check_config(conf_dir: str) -> int:
    """Exit status 0 when the directory is usable, 1 (with ``file:line: problem`` lines) if not."""
    if not Path(conf_dir).is_dir():
        print(f"{conf_dir}: not a directory", file=sys.stderr)
        return 1
    _, problems = load_proxy_config(Path(conf_dir), conf_dir)
    if problems:
        _print_problems(problems)
        print(f"{len(set(problems))} problem(s) in {conf_dir}", file=sys.stderr)
        return 1
    print(f"{conf_dir}: configuration OK")
    return 0


def serve(conf_dir: str, bind: str, workers: int) -> int:
    """Validate, then replace this process with gunicorn running the proxy."""
    from satosa_efos.processes import gunicorn_argv

    if check_config(conf_dir) != 0:
        print("satosa-efos serve: refusing to start with this configuration", file=sys.stderr)
        return 1
    os.environ["SATOSA_EFOS_CONF_DIR"] = str(Path(conf_dir).resolve())
    argv = gunicorn_argv("satosa_efos.app:create_app()", bind, workers)
    os.execv(argv[0], argv)
    return 1  # not reached


def keys(conf_dir: str) -> int:
    """Development keys for a production-shaped configuration (never overwrites a key)."""
    from satosa_efos.keys import ensure_proxy_keys

    for path in ensure_proxy_keys(Path(conf_dir) / "keys"):
        print(path)
    return 0


METADATA_COMMANDS = ("publish", "fetch", "verify")


def metadata_publish(conf_dir: str, out_dir: str) -> int:
    """Write the proxy's metadata files; print the signed IdP document's checksums."""
    from cryptography.hazmat.primitives import hashes

    from satosa_efos.config.source import ConfigError
    from satosa_efos.federation.published import PublishError
    from satosa_efos.metadata import write_proxy_metadata_files
    from satosa_efos.xmlsec.metadata import MetadataRejected

    try:
        written = write_proxy_metadata_files(Path(conf_dir), Path(out_dir))
    except ConfigError as exc:
        _print_problems(exc.problems)
        return 1
    except (PublishError, MetadataRejected) as exc:
        print(f"satosa-efos metadata publish: {exc}", file=sys.stderr)
        return 1
    for item in written:
        print(f"{item.name}: {item.path}")
        if item.published is not None:
            print(f"  entityID {item.published.entity_id} (signed)")
            print(f"  SHA-256  {_grouped(item.published.sha256)}")
            print(f"  SHA-1    {_grouped(item.published.sha1)}")
            certificates = item.published.signing_certificates
            for role, cert in zip(("current", "next"), certificates, strict=False):
                fingerprint = _grouped(cert.fingerprint(hashes.SHA256()).hex())
                until = f"{cert.not_valid_after_utc:%Y-%m-%d}"
                print(f"  signing certificate, {role} (until {until}):")
                print(f"    SHA-256 {fingerprint}")
    return 0


def _grouped(hexdigest: str) -> str:
    """In groups of four, as read out over the phone."""
    return " ".join(hexdigest[i : i + 4] for i in range(0, len(hexdigest), 4))


def _describe_aggregate(aggregate, now) -> None:
    state = "EXPIRED" if aggregate.expired(now) else "valid"
    print(f"entities:    {len(aggregate.entity_ids)}")
    print(f"validUntil:  {aggregate.valid_until:%Y-%m-%dT%H:%M:%SZ} ({state})")
    print(f"signer:      {aggregate.signer}")
    print(f"SHA-256:     {aggregate.sha256}")


def metadata_fetch(
    source: str, signer_cert: str, out: str, timeout: float, max_bytes: int, ca_file: str | None
) -> int:
    """Download (or copy), verify, check validUntil, replace ``out`` atomically; 1 on failure
    with ``out`` untouched."""
    import datetime as dt

    from satosa_efos.federation.fetch import fetch
    from satosa_efos.xmlsec.metadata import MetadataRejected

    now = dt.datetime.now(dt.UTC)
    try:
        aggregate = fetch(source, Path(signer_cert), Path(out), timeout=timeout,
                          max_bytes=max_bytes, ca_file=Path(ca_file) if ca_file else None,
                          now=now)  # fmt: skip
    except MetadataRejected as exc:
        kept = "the last good copy is kept" if Path(out).exists() else "nothing was written"
        print(f"satosa-efos metadata fetch: {source} refused: the aggregate {exc}; {kept} "
              f"({out})", file=sys.stderr)  # fmt: skip
        return 1
    print(f"{out}: written from {source}")
    _describe_aggregate(aggregate, now)
    return 0


def metadata_verify(path: str, signer_cert: str) -> int:
    """Verify a metadata file; describe it; exit 1 when it does not verify or has expired."""
    import datetime as dt

    from satosa_efos.xmlsec.metadata import MetadataRejected, verify_aggregate_file

    now = dt.datetime.now(dt.UTC)
    try:
        aggregate = verify_aggregate_file(Path(path), Path(signer_cert), now=now,
                                          allow_expired=True)  # fmt: skip
    except MetadataRejected as exc:
        print(f"satosa-efos metadata verify: {path}: the aggregate {exc}", file=sys.stderr)
        return 1
    print(f"{path}: signature OK ({signer_cert})")
    _describe_aggregate(aggregate, now)
    if aggregate.expired(now):
        print(f"satosa-efos metadata verify: {path} has expired", file=sys.stderr)
        return 1
    return 0


def demo(
    proxy_port: int,
    app_port: int,
    idp_ports: list[int],
    efos_ports: list[int],
    workers: int,
    prepare_only: bool,
) -> int:
    from satosa_efos import demo as demo_module

    urls = demo_module.DemoUrls.on_ports("localhost", proxy_port, app_port, idp_ports, efos_ports)
    demo_module.prepare(urls)
    if prepare_only:
        print(f"demo keys and metadata for {urls.proxy} are in {demo_module.DEMO_DIR}")
        return 0
    log_dir = demo_module.DEMO_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "satosa-efos demo is running (Ctrl-C stops everything)",
        "",
        f"  Demo application (start here): {urls.app}/",
        f"  Second demo application:       {urls.app2}/  (Göteborg's: single sign-on)",
        f"  Demo OIDC application:         {urls.rp}/",
        f"  Your login at the proxy:       {urls.proxy}/session  (log out everywhere)",
        f"  Proxy:                         {urls.proxy}/metadata/idp.xml",
        *(f"  {demo_module.DEMO_IDPS[org] + ':':31}{url}/idp/metadata"
          for org, url in urls.idps.items()),
        f"  Mobilt Efos SIMULATOR (phone): {urls.efos_phone}/",
        f"  Logs (JSON lines):             {log_dir}/",
        "",
        "  Mobilt Efos: pick a municipality without its own IdP (e.g. Ale kommun), open the",
        "  simulator's phone page in another tab and approve as one of the demo users.",
        "",
        "  Test users (fictional people), by demo IdP; or type an e-mail address such as",
        "  someone@goteborg.se on the organisation page:",
    ]  # fmt: skip
    servers = demo_module.servers(urls, workers=workers, log_dir=log_dir)
    return _run_until_stopped(servers, lines, urls.idps)


def demo_for_deployment(
    proxy_url: str, published: str, app_port: int, idp_ports: list[int], prepare_only: bool
) -> int:
    """The demo IdPs and application for a proxy deployed with Ansible
    (docs/deploy-localhost.md): first the registry to deploy, then the peers themselves."""
    import dataclasses

    import yaml

    from satosa_efos import demo as demo_module

    base = demo_module.DEPLOYMENT_DIR
    ports = demo_module.DemoUrls.on_ports(
        "localhost", 8080, app_port, idp_ports, [8443, 8093, 8094]
    )
    urls = dataclasses.replace(ports, proxy=proxy_url.rstrip("/"))
    demo_module.prepare(urls, base)
    registry, metadata = demo_module.write_deployment_registry(urls, base, base / "deployment")
    vars_file = base / "deployment" / "vars.yml"
    vars_file.write_text(yaml.safe_dump(demo_module.deployment_vars(registry, metadata)))
    if prepare_only:
        print(f"The registry with the demo IdPs and the demo application: {registry}")
        print(f"Deploy it with: ansible-playbook site.yml ... -e @{vars_file}")
        return 0
    published_dir = Path(published)
    missing = [n for n in ("idp.xml", "orgidp.xml") if not (published_dir / n).is_file()]
    if missing:
        print(f"satosa-efos demo: {', '.join(missing)} not in {published_dir}: deploy the "
              f"proxy with -e @{vars_file} first (docs/deploy-localhost.md)",
              file=sys.stderr)  # fmt: skip
        return 1
    log_dir = base / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"The demo peers of the proxy at {urls.proxy} are running (Ctrl-C stops them)",
        "",
        f"  Demo application (start here): {urls.app}/",
        *(f"  {demo_module.DEMO_IDPS[org] + ':':31}{url}/idp/metadata"
          for org, url in urls.idps.items()),
        f"  They trust the proxy's metadata in {published_dir}/",
        f"  Logs (JSON lines):             {log_dir}/",
        "",
        "  Test users (fictional people), by demo IdP; type the e-mail address on the proxy's",
        "  organisation page:",
    ]  # fmt: skip
    peers = demo_module.peer_servers(urls, base, published_dir, log_dir)
    return _run_until_stopped(peers, lines, urls.idps)


def _run_until_stopped(servers, lines: list[str], idps: dict[str, str]) -> int:
    from satosa_efos import demo as demo_module
    from satosa_efos.processes import stop_all
    from satosa_efos.simulators.demo_users import load_demo_users

    try:
        for server in servers:
            server.start()
        lines = ["", *lines]
        for user in load_demo_users():
            if user.idp in idps:
                idp = demo_module.DEMO_IDPS[user.idp]
                mail = user.attributes.get("mail", [""])[0]
                lines.append(f"    {user.username:8} password {user.password:5} {idp:27} "
                             f"{user.display_name}" + (f" <{mail}>" if mail else ""))  # fmt: skip
        print("\n".join(lines), flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while all(s.process.poll() is None for s in servers):
            time.sleep(0.5)
        dead = [s.name for s in servers if s.process.poll() is not None]
        print(f"satosa-efos demo: {', '.join(dead)} stopped; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping the demo…")
        return 0
    finally:
        stop_all(servers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="satosa-efos", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("check-config", help="validate a configuration directory")
    p.add_argument("conf_dir")

    p = commands.add_parser("serve", help="run the proxy under gunicorn")
    p.add_argument("conf_dir")
    p.add_argument("--bind", default="127.0.0.1:8080", help="HOST:PORT (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")

    p = commands.add_parser("keys", help="generate development keys into CONF_DIR/keys/")
    p.add_argument("conf_dir")

    p = commands.add_parser("metadata", help="publish the proxy's metadata; fetch/verify an "
                            "aggregate (docs/metadata.md)")  # fmt: skip
    steps = p.add_subparsers(dest="metadata_command", required=True)
    s = steps.add_parser("publish", help="write the proxy's metadata files (IdP: signed)")
    s.add_argument("conf_dir")
    s.add_argument("out_dir")
    s = steps.add_parser("fetch", help="download, verify and atomically store an aggregate")
    s.add_argument("source", help="https:// URL or file of the aggregate")
    s.add_argument("--signer-cert", required=True, help="the pinned signing certificate (PEM)")
    s.add_argument("--out", required=True, help="the last good copy, replaced only on success")
    s.add_argument("--timeout", type=float, default=30.0, help="seconds (default %(default)s)")
    s.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024,
                   help="refuse larger documents (default %(default)s)")  # fmt: skip
    s.add_argument("--ca-file", help="CA bundle for the https:// server (default: certifi's)")
    s = steps.add_parser("verify", help="verify a metadata file against a pinned certificate")
    s.add_argument("file")
    s.add_argument("--signer-cert", required=True, help="the pinned signing certificate (PEM)")

    p = commands.add_parser("demo", help="run the embedded demo on loopback")
    p.add_argument("--proxy-port", type=int, default=8080)
    p.add_argument("--app-port", type=int, default=8090)
    p.add_argument(
        "--idp-ports",
        type=int,
        nargs=2,
        default=[8091, 8092],
        metavar=("GOTEBORG", "BORAS"),
        help="ports of the two demo IdPs",
    )
    p.add_argument(
        "--efos-ports",
        type=int,
        nargs=3,
        default=[8443, 8093, 8094],
        metavar=("API", "PHONE", "OCSP"),
        help="ports of the Mobilt Efos simulator",
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--prepare-only", action="store_true", help="generate keys and metadata, start nothing"
    )
    p.add_argument(
        "--deployed-proxy",
        metavar="URL",
        help="no proxy of its own: the demo IdPs and application for the proxy deployed at URL "
        "(its satosa_efos_base_url); with --prepare-only, write the registry to deploy "
        "(docs/deploy-localhost.md)",
    )
    p.add_argument(
        "--published",
        default="/var/lib/satosa-efos/published",
        help="with --deployed-proxy: the deployed proxy's published metadata (default %(default)s)",
    )

    p = commands.add_parser(
        "simulate", help="run a simulator of a national service (demo and tests only)"
    )
    p.add_argument("service", choices=["efos", "hsa"])
    p.add_argument(
        "simulator_args",
        nargs=argparse.REMAINDER,
        help="options of the simulator (see: satosa-efos simulate efos|hsa --help)",
    )

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["metadata"] and len(argv) > 1 and argv[1] not in (*METADATA_COMMANDS, "-h",
                                                                     "--help"):  # fmt: skip
        argv.insert(1, "publish")  # the older form: satosa-efos metadata DIR OUT
    args = parser.parse_args(argv)
    if args.command == "check-config":
        return check_config(args.conf_dir)
    if args.command == "serve":
        return serve(args.conf_dir, args.bind, args.workers)
    if args.command == "keys":
        return keys(args.conf_dir)
    if args.command == "metadata":
        if args.metadata_command == "fetch":
            return metadata_fetch(args.source, args.signer_cert, args.out, args.timeout,
                                  args.max_bytes, args.ca_file)  # fmt: skip
        if args.metadata_command == "verify":
            return metadata_verify(args.file, args.signer_cert)
        return metadata_publish(args.conf_dir, args.out_dir)
    if args.command == "simulate":
        if args.service == "hsa":
            from satosa_efos.simulators import hsa_service

            return hsa_service.main(args.simulator_args)
        from satosa_efos.simulators import efos_service

        return efos_service.main(args.simulator_args)
    if args.deployed_proxy:
        return demo_for_deployment(args.deployed_proxy, args.published, args.app_port,
                                   args.idp_ports, args.prepare_only)  # fmt: skip
    return demo(
        args.proxy_port,
        args.app_port,
        args.idp_ports,
        args.efos_ports,
        args.workers,
        args.prepare_only,
    )


if __name__ == "__main__":
    sys.exit(main())
