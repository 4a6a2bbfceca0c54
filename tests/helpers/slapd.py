"""A real OpenLDAP ``slapd`` on loopback, loaded with HSA test data (DESIGN.md §5).

The LDAP client is tested against the server it will meet, not a mock: Debian's slapd with the
project's test schema (``simulators/hsa.schema``), bulk-loaded with ``slapadd`` before it starts
(fast enough for 150,000 people), listening on free ports with ``ldap://`` and, with a test CA,
``ldaps://``. Tests that break the server (stop, SIGSTOP, restart) get their own instance.

    with running_slapd([DEMO_LDIF]) as server:
        LdapDirectory([server.url], bind_dn=server.bind_dn, password=server.password)

A missing slapd is a failure, not a skip: CI installs it (``make test-setup``), and a silently
skipped LDAP suite would look green while testing nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

import ldap3

from helpers.tlspki import make_tls_pki
from satosa_efos.hsa import DEMO_LDIF
from satosa_efos.processes import free_ports

__all__ = [
    "HSA_SCHEMA",
    "Slapd",
    "SlapdMissing",
    "pid_alive",
    "require_slapd",
    "running_slapd",
]

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
#: The project's test schema, next to the LDIF it describes.
HSA_SCHEMA = DEMO_LDIF.parent / "hsa.schema"
#: core: cn, sn, givenName, mail, title, organizationalRole, simpleSecurityObject;
#: cosine: needed by inetorgperson; inetorgperson: displayName.
STANDARD_SCHEMAS = ("core", "cosine", "inetorgperson")
#: The memory map of the mdb database: room for 150,000 people with their commissions.
DEFAULT_MAXSIZE = 2 * 1024**3


class SlapdMissing(RuntimeError):
    """slapd or slapadd is not installed: the LDAP tests cannot run here."""


def require_slapd() -> None:
    """Fail loudly (not skip) when the Debian packages are missing."""
    missing = [str(path) for path in (SLAPD, SLAPADD) if not path.exists()]
    missing += [
        str(SCHEMA_DIR / f"{name}.schema")
        for name in STANDARD_SCHEMAS
        if not (SCHEMA_DIR / f"{name}.schema").exists()
    ]
    if missing:
        raise SlapdMissing(
            f"{', '.join(missing)} not found: install the Debian packages slapd and ldap-utils "
            "(`make test-setup`, or `apt-get install slapd ldap-utils`) to run the LDAP tests"
        )


def ssha(password: str) -> str:
    """``{SSHA}`` userPassword value, so no clear-text password sits in the database."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - LDAP's SSHA scheme
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


# ----------------------------------------------------------------------------------- slapd


def _terminate(process: subprocess.Popen) -> None:
    """Last resort at garbage collection or interpreter exit: never leave a slapd behind."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
            process.kill()
        with suppress(subprocess.TimeoutExpired):
            process.wait(5)


def _thread_states(pid: int) -> list[str]:
    """The state letter of each thread of ``pid`` (Linux /proc; ``T`` is stopped)."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        with suppress(OSError):
            states.append(stat.read_text().rpartition(")")[2].split()[0])
    return states


def _wait_for_threads(pid: int, *, stopped: bool, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = _thread_states(pid)
        if not states or all((state in "Tt") == stopped for state in states):
            return
        time.sleep(0.001)
    raise TimeoutError(f"slapd {pid} threads not {'stopped' if stopped else 'running'}: {states}")


class Slapd:
    """One slapd in its own temporary directory; a context manager that always cleans up.

    ``ldifs`` are bulk-loaded with ``slapadd`` before the first start and must hold the suffix
    entry ``c=SE`` (the demo LDIF does); with no LDIF the harness adds it. A read-only bind user
    ``cn=proxy,c=SE`` is added; the ACL lets it (and the rootdn) read everything and anonymous
    nothing. Ports are chosen once, so :meth:`restart` keeps :attr:`url` valid.
    """

    suffix = "c=SE"
    bind_dn = "cn=proxy,c=SE"
    admin_dn = "cn=admin,c=SE"

    def __init__(
        self,
        ldifs: Iterable[str | Path] = (),
        *,
        work_dir: str | Path | None = None,
        tls: bool = True,
        tls_names: Iterable[str] = ("localhost", "127.0.0.1"),
        maxsize: int = DEFAULT_MAXSIZE,
        start_timeout: float = 30.0,
        password: str | None = None,
    ) -> None:
        require_slapd()
        self.ldifs = [Path(path) for path in ldifs]
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="slapd-"))
        self.tls = tls
        self.tls_names = tuple(tls_names)
        self.maxsize = maxsize
        self.start_timeout = start_timeout
        #: The bind user's password (given, so several servers can share one, or random).
        self.password = password or secrets.token_urlsafe(18)
        self.admin_password = secrets.token_urlsafe(18)
        self.port, ldaps_port = free_ports(2)
        self.ldaps_port = ldaps_port if tls else None
        self.conf = self.work_dir / "slapd.conf"
        self.log = self.work_dir / "slapd.log"
        #: The CA that signed the ldaps:// certificate, and one that did not (for refusals).
        self.ca_file: Path | None = None
        self.other_ca_file: Path | None = None
        self.process: subprocess.Popen | None = None
        self.paused = False
        self._prepared = False

    # -- addresses

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str | None:
        return f"ldaps://127.0.0.1:{self.ldaps_port}" if self.ldaps_port else None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- life cycle

    def __enter__(self) -> Slapd:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> Slapd:
        """Write the configuration and load the data (first time only), then run slapd."""
        if not self._prepared:
            self._prepare()
            self._prepared = True
        if self.running:
            return self
        listeners = self.url + "/" + (f" {self.ldaps_url}/" if self.ldaps_url else "")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(SLAPD), "-d", "0", "-f", str(self.conf), "-h", listeners],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.paused = False
        weakref.finalize(self, _terminate, self.process)
        self._wait_until_answering()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (after SIGCONT if paused) and wait; SIGKILL if slapd will not go."""
        if not self.running:
            return
        assert self.process is not None
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no orderly shutdown; the kernel resets the connections slapd held."""
        if not self.running:
            return
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts TCP connections, but nothing ever answers.

        Returns once every slapd thread is stopped: kill() only queues the stop, and on a busy
        machine a thread could otherwise still answer the test's next request.
        """
        if self.running and not self.paused:
            assert self.process is not None
            self.process.send_signal(signal.SIGSTOP)
            self.paused = True
            _wait_for_threads(self.process.pid, stopped=True)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`; returns once slapd runs again."""
        if self.running and self.paused:
            assert self.process is not None
            self.process.send_signal(signal.SIGCONT)
            _wait_for_threads(self.process.pid, stopped=False)
        self.paused = False

    def restart(self) -> Slapd:
        """Stop and start again on the same ports with the same data."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop slapd and remove the temporary directory the harness created."""
        try:
            self.stop()
        finally:
            if self.process is not None:
                _terminate(self.process)
            if self._own_work_dir:
                shutil.rmtree(self.work_dir, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- preparation

    def _prepare(self) -> None:
        database = self.work_dir / "db"
        database.mkdir(parents=True, exist_ok=True)
        tls_lines: list[str] = []
        if self.tls:
            pki = make_tls_pki(self.work_dir / "tls", server_names=self.tls_names)
            self.ca_file, self.other_ca_file = pki.ca_cert, pki.other_ca_cert
            tls_lines = [
                f'TLSCACertificateFile "{pki.ca_cert}"',
                f'TLSCertificateFile "{pki.server_cert}"',
                f'TLSCertificateKeyFile "{pki.server_key}"',
            ]
        schemas = [SCHEMA_DIR / f"{name}.schema" for name in STANDARD_SCHEMAS] + [HSA_SCHEMA]
        self.conf.write_text(
            "\n".join(
                [
                    "# Written by tests/helpers/slapd.py for one test run.",
                    *(f'include "{schema}"' for schema in schemas),
                    f'pidfile "{self.work_dir / "slapd.pid"}"',
                    f'argsfile "{self.work_dir / "slapd.args"}"',
                    f'modulepath "{MODULE_DIR}"',
                    "moduleload back_mdb",
                    *tls_lines,
                    "",
                    "database mdb",
                    f"maxsize {self.maxsize}",
                    f'suffix "{self.suffix}"',
                    f'rootdn "{self.admin_dn}"',
                    f"rootpw {ssha(self.admin_password)}",
                    f'directory "{database}"',
                    # The client's look-ups: one equality index per identifier, and the
                    # commission search by member.
                    "index objectClass eq",
                    "index hsaIdentity eq",
                    "index personalIdentityNumber eq",
                    "index mail eq",
                    "index hsaCommissionMember eq",
                    # Read-only proxy user; anonymous may only authenticate.
                    "access to attrs=userPassword",
                    "    by anonymous auth",
                    "    by * none",
                    "access to *",
                    f'    by dn.exact="{self.bind_dn}" read',
                    "    by * none",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        for path in self.ldifs:
            self._slapadd(path)
        self._slapadd_text(self._own_entries())

    def _own_entries(self) -> str:
        suffix = "" if self.ldifs else "dn: c=SE\nobjectClass: country\nc: SE\n\n"
        return (
            f"{suffix}dn: {self.bind_dn}\n"
            "objectClass: organizationalRole\n"
            "objectClass: simpleSecurityObject\n"
            "cn: proxy\n"
            "description: read-only bind user of the satosa-efos tests\n"
            f"userPassword: {ssha(self.password)}\n"
        )

    def _slapadd(self, path: Path) -> None:
        """Bulk-load one LDIF file, streaming it through slapadd's standard input.

        slapadd (unlike ldapadd) refuses RFC 2849's ``version: 1`` line, which the demo LDIF
        has; it is dropped on the way, the file itself stays as shipped.
        """
        with open(path, "rb") as source:
            head: list[bytes] = []
            for line in source:
                stripped = line.strip()
                if stripped.lower().startswith(b"version:"):
                    break
                head.append(line)
                if stripped and not stripped.startswith(b"#"):
                    break
            self._run_slapadd(path, head, source)

    def _slapadd_text(self, text: str) -> None:
        self._run_slapadd(Path("<harness entries>"), [text.encode()], None)

    def _run_slapadd(self, name: Path, head: list[bytes], rest: BinaryIO | None) -> None:
        output = self.work_dir / "slapadd.log"
        with open(output, "wb") as log:
            process = subprocess.Popen(
                [str(SLAPADD), "-q", "-f", str(self.conf)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            assert process.stdin is not None
            try:
                for chunk in head:
                    process.stdin.write(chunk)
                if rest is not None:
                    shutil.copyfileobj(rest, process.stdin, 1 << 20)
                process.stdin.close()
            except BrokenPipeError:
                pass  # slapadd stopped early; its output says why
            status = process.wait()
        if status != 0:
            text = output.read_text(errors="replace")
            raise RuntimeError(f"slapadd could not load {name}:\n{text}")

    def _wait_until_answering(self) -> None:
        """Until the proxy user can bind: listening alone does not mean the database is open."""
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"slapd exited with status {self.process.returncode}:\n{self.log_tail()}"
                )
            server = ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=1)
            connection = ldap3.Connection(
                server, self.bind_dn, self.password, receive_timeout=1, raise_exceptions=False
            )
            try:
                if connection.bind():
                    return
                last_error = str(connection.result.get("description"))
            except ldap3.core.exceptions.LDAPException as error:
                last_error = str(error)
            finally:
                with suppress(Exception):
                    connection.unbind()
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(
            f"slapd on {self.url} did not answer within {self.start_timeout} s "
            f"({last_error}):\n{self.log_tail()}"
        )

    def __repr__(self) -> str:
        state = "paused" if self.paused else "running" if self.running else "stopped"
        return f"<Slapd {self.url} {state} in {self.work_dir}>"


@contextmanager
def running_slapd(ldifs: Iterable[str | Path] = (DEMO_LDIF,), **options: object) -> Iterator[Slapd]:
    """A started :class:`Slapd` for a ``with`` block or a fixture; always stopped afterwards."""
    with Slapd(ldifs, **options) as server:  # type: ignore[arg-type]
        yield server


def pid_alive(pid: int) -> bool:
    """Whether a process still exists (for tests that check the harness cleaned up)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
