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
    from satosa_efos.keys import ensure_keypair, ensure_secret

    directory = Path(conf_dir) / "keys"
    for name in ("frontend", "backend"):
        key, cert = ensure_keypair(directory, name, f"satosa-efos development {name}")
        print(f"{key}\n{cert}")
    print(directory / "state-encryption.key")
    ensure_secret(directory / "state-encryption.key")
    return 0


def metadata(conf_dir: str, out_dir: str) -> int:
    from satosa_efos.config.source import ConfigError
    from satosa_efos.metadata import write_proxy_metadata

    try:
        for name, path in write_proxy_metadata(Path(conf_dir), Path(out_dir)).items():
            print(f"{name}: {path}")
    except ConfigError as exc:
        _print_problems(exc.problems)
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
    from satosa_efos.processes import stop_all
    from satosa_efos.simulators.demo_users import load_demo_users

    urls = demo_module.DemoUrls.on_ports("localhost", proxy_port, app_port, idp_ports, efos_ports)
    demo_module.prepare(urls)
    if prepare_only:
        print(f"demo keys and metadata for {urls.proxy} are in {demo_module.DEMO_DIR}")
        return 0
    log_dir = demo_module.DEMO_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    servers = demo_module.servers(urls, workers=workers, log_dir=log_dir)
    try:
        for server in servers:
            server.start()
        lines = [
            "",
            "satosa-efos demo is running (Ctrl-C stops everything)",
            "",
            f"  Demo application (start here): {urls.app}/",
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
        for user in load_demo_users():
            if user.idp in urls.idps:
                idp = demo_module.DEMO_IDPS[user.idp]
                lines.append(f"    {user.username:8} password {user.password:5} {idp:27} "
                             f"{user.display_name}")  # fmt: skip
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


def main(argv: list[str] | None = None) -> int:
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

    p = commands.add_parser("metadata", help="write the proxy's SAML metadata files")
    p.add_argument("conf_dir")
    p.add_argument("out_dir")

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

    p = commands.add_parser(
        "simulate", help="run a simulator of a national service (demo and tests only)"
    )
    p.add_argument("service", choices=["efos", "hsa"])
    p.add_argument(
        "simulator_args",
        nargs=argparse.REMAINDER,
        help="options of the simulator (see: satosa-efos simulate efos|hsa --help)",
    )

    args = parser.parse_args(argv)
    if args.command == "check-config":
        return check_config(args.conf_dir)
    if args.command == "serve":
        return serve(args.conf_dir, args.bind, args.workers)
    if args.command == "keys":
        return keys(args.conf_dir)
    if args.command == "metadata":
        return metadata(args.conf_dir, args.out_dir)
    if args.command == "simulate":
        if args.service == "hsa":
            from satosa_efos.simulators import hsa_service

            return hsa_service.main(args.simulator_args)
        from satosa_efos.simulators import efos_service

        return efos_service.main(args.simulator_args)
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
