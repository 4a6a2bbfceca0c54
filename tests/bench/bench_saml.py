"""Benchmark: brokered SAML logins through stock SATOSA and through this proxy, in one run.

Both proxies run in turn on the same loopback address under gunicorn with the same worker count,
the same keys and the same peers: an SP (pysaml2 ``Saml2Client``) and an organisation IdP
(pysaml2 ``Server``), both in the benchmark's client processes with the in-process crypto
backend, no browser. One login is the whole round trip:

    SP --signed AuthnRequest (HTTP-POST)--> proxy --signed AuthnRequest (HTTP-Redirect)--> IdP
    IdP --signed Response, signed + encrypted Assertion--> proxy
    proxy --signed Response, signed + encrypted Assertion--> SP (verifies, decrypts, checks)

(a) stock SATOSA 8.6: its own SAMLFrontend and SAMLBackend, pysaml2's default crypto (xmlsec1
subprocesses), no micro-services; ``allow_unsolicited`` on, because stock SATOSA keeps request
ids in worker memory and a response reaching another worker would otherwise be refused.
(b) this proxy: conf/demo with the EfosSAMLFrontend, the OrganisationSAMLBackend, in-process
crypto and the micro-services a brokered login runs through (routing by the ``org`` hint, so no
picker page; the scope check; HSA enrichment from the in-memory directory); the Mobilt Efos
backend and the OIDC frontend are left out. See docs/performance.md for every difference.

For each proxy and 1, 4 and 16 concurrent clients it prints logins per second, p50/p95/p99
latency, the proxy's CPU seconds per login (gunicorn master and workers and their children such
as xmlsec1, from /proc), the peers' CPU per login, and the peak RSS per worker; then the ratio
(b)/(a) and the crypto floor: the CPU time of the private-key operations a proxy needs per login
(3 RSA-2048 signatures, 1 RSA-OAEP decryption), measured with ``cryptography`` here.

    .venv/bin/python tests/bench/bench_saml.py [--workers 2] [--logins 120] [--json out.json]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import json
import math
import multiprocessing
import os
import platform
import re
import resource
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
import yaml
from lxml import html

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.client import Saml2Client  # noqa: E402
from saml2.config import IdPConfig, SPConfig  # noqa: E402
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID  # noqa: E402
from saml2.server import Server as IdPServer  # noqa: E402

from satosa_efos import attributemaps, demo  # noqa: E402
from satosa_efos.processes import Server, gunicorn_argv  # noqa: E402
from satosa_efos.simulators import demo_idp, demo_sp  # noqa: E402
from satosa_efos.simulators.demo_users import load_demo_users  # noqa: E402
from satosa_efos.xmlsec import policy  # noqa: E402
from satosa_efos.xmlsec.backend import ENVIRONMENT  # noqa: E402
from satosa_efos.xmlsec.inprocess import InProcessBackend  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
USER = "cecilia"  # Borås, her own IdP; one HSA commission, so no commission page
ORGANISATION = "boras"
SHA256 = {"signing_algorithm": policy.RSA_SHA256, "digest_algorithm": policy.SHA256}
#: Private-key operations of the proxy per login (the crypto floor): RSA signatures over the
#: AuthnRequest to the IdP, the Response and the Assertion to the SP; RSA-OAEP decryption of the
#: session key of the IdP's encrypted assertion.
PRIVATE_SIGNATURES, PRIVATE_DECRYPTIONS = 3, 1
#: Public-key operations (reported, not part of the floor): verifying the SP's AuthnRequest and
#: the IdP's Response and Assertion; encrypting the session key for the SP.
PUBLIC_VERIFICATIONS, PUBLIC_ENCRYPTIONS = 3, 1
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the peers -----------------------------------------------------------------------------


class PeerPolicy(policy.AlgorithmPolicy):
    """The SP peer also reads 3DES: stock SATOSA cannot encrypt with anything else (pysaml2's
    template is fixed). Benchmark only; the proxy's own policy never admits it."""

    def __post_init__(self) -> None:
        pass


@dataclass
class Peers:
    sp: Saml2Client
    idp: IdPServer
    identity: dict


def make_peers(layout: Layout) -> Peers:
    sp = Saml2Client(
        config=SPConfig().load(
            demo_sp.sp_config(
                layout.urls.app, layout.keys / "demo-app.key", layout.keys / "demo-app.crt",
                [layout.metadata / "proxy" / "idp.xml"],
            )
        )
    )  # fmt: skip
    sp.sec.crypto = InProcessBackend(
        PeerPolicy(
            data_encryption_algorithms=frozenset({*policy.AES_KEY_BYTES, policy.TRIPLEDES_CBC})
        )
    )
    idp = IdPServer(config=IdPConfig().load(idp_config(layout)))
    idp.sec.crypto = InProcessBackend()
    user = next(u for u in load_demo_users() if u.username == USER)
    return Peers(sp, idp, {k: list(v) for k, v in user.attributes.items()})


def idp_config(layout: Layout) -> dict:
    config = demo_idp.idp_config(
        layout.urls.idps[ORGANISATION],
        layout.keys / f"demo-idp-{ORGANISATION}.key",
        layout.keys / f"demo-idp-{ORGANISATION}.crt",
        [layout.metadata / "proxy" / "orgidp.xml"],
    )
    idp = config["service"]["idp"]
    idp["want_authn_requests_signed"] = True  # verified here, query-string signature included
    idp["encrypt_assertion"] = True
    return config


# -- one login -----------------------------------------------------------------------------


def _form(page: requests.Response) -> tuple[str, dict[str, str]]:
    document = html.fromstring(page.content)
    form = document.find(".//form")
    if form is None:
        raise RuntimeError(f"expected a POST form, got {page.status_code}: {page.text[:300]}")
    fields = {i.get("name"): i.get("value", "") for i in form.iter("input") if i.get("name")}
    return form.get("action"), fields


def one_login(peers: Peers, proxy: str, hint: str | None) -> None:
    """SP -> proxy -> IdP -> proxy -> SP; raises unless the SP accepts the answer."""
    session = requests.Session()
    sso = f"{proxy}/orgidp/sso/post"
    request_id, request_xml = peers.sp.create_authn_request(
        sso, binding=BINDING_HTTP_POST, sign=True
    )
    form = {"SAMLRequest": base64.b64encode(str(request_xml).encode()).decode(),
            "RelayState": "bench"}  # fmt: skip
    if hint:
        form["org"] = hint
    page = session.post(sso, data=form, allow_redirects=False, timeout=60)
    for _ in range(5):  # the proxy's own redirects (none expected with a hint)
        location = page.headers.get("Location", "")
        if not (page.is_redirect and location.startswith(proxy)):
            break
        page = session.get(location, allow_redirects=False, timeout=60)
    location = page.headers.get("Location", "")
    if not location.startswith(peers.idp.config.entityid.rsplit("/", 1)[0]):
        raise RuntimeError(f"expected a redirect to the IdP, got {page.status_code}: {location}")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    parsed = peers.idp.parse_authn_request(
        query["SAMLRequest"], BINDING_HTTP_REDIRECT, relay_state=query.get("RelayState"),
        sigalg=query.get("SigAlg"), signature=query.get("Signature"),
    )  # fmt: skip
    answer = peers.idp.create_authn_response(
        peers.identity,
        name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=f"{USER}-persistent-id"),
        authn={"class_ref": demo_idp.DEFAULT_LOA},
        sign_response=True,
        sign_assertion=True,
        encrypt_assertion=True,
        **peers.idp.response_args(parsed.message),
    )
    acs = parsed.message.assertion_consumer_service_url
    page = session.post(
        acs,
        data={"SAMLResponse": base64.b64encode(str(answer).encode()).decode(),
              "RelayState": query.get("RelayState", "")},
        allow_redirects=False, timeout=60,
    )  # fmt: skip
    action, fields = _form(page)
    result = peers.sp.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "bench"}
    )
    if result is None or result.assertion is None or not result.ava.get("givenName"):
        raise RuntimeError("the SP received no usable assertion")


# -- clients (processes) -------------------------------------------------------------------

_PEERS: Peers | None = None


def _client(args: tuple[str, str | None, int]) -> tuple[list[float], float, int]:
    proxy, hint, count = args
    start = resource.getrusage(resource.RUSAGE_SELF)
    latencies, failures = [], 0
    for _ in range(count):
        began = time.perf_counter()
        try:
            one_login(_PEERS, proxy, hint)
        except Exception as exc:  # counted and reported; the run goes on
            failures += 1
            print(f"    login failed: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
            continue
        latencies.append(time.perf_counter() - began)
    end = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
    return latencies, cpu, failures


# -- the proxy's processes -----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def _cpu_seconds(pid: int) -> float:
    """utime + stime of the process and of its reaped children (cutime + cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def proxy_cpu(master: int) -> float:
    """The gunicorn master and its live workers (whose xmlsec1 children are reaped into them)."""
    total = 0.0
    for pid in [master, *_children(master)]:
        with contextlib.suppress(FileNotFoundError):  # a worker restarted meanwhile
            total += _cpu_seconds(pid)
    return total


def worker_peak_rss_mb(master: int) -> list[float]:
    peaks = []
    for pid in _children(master):
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return peaks


# -- configurations ------------------------------------------------------------------------


@dataclass
class Layout:
    root: Path
    urls: demo.DemoUrls

    @property
    def demo_dir(self) -> Path:
        return self.root / "demo"

    @property
    def keys(self) -> Path:
        return self.demo_dir / "keys"

    @property
    def metadata(self) -> Path:
        return self.demo_dir / "metadata"


def prepare(layout: Layout) -> None:
    """The demo's keys and metadata, then the bench IdP's metadata (it wants signed requests)."""
    demo.prepare(layout.urls, layout.demo_dir, demo.DEMO_CONF)
    demo_idp.write_entity_metadata(
        IdPConfig, idp_config(layout), layout.metadata / "idp" / f"{ORGANISATION}.xml"
    )


def ours_conf(layout: Layout) -> Path:
    """conf/demo without the Mobilt Efos backend and the OIDC frontend; routing knows own_idp
    only, so the hint ``org=boras`` decides without a page."""
    conf = layout.root / "conf-ours"
    shutil.copytree(demo.DEMO_CONF, conf / "demo")
    shutil.copy(REPO / "conf" / "internal_attributes.yaml", conf / "internal_attributes.yaml")
    proxy_conf = conf / "demo" / "proxy_conf.yaml"
    text = proxy_conf.read_text()
    for line in ("  - plugins/backends/efos_mobile.yaml\n", "  - plugins/frontends/oidc_op.yaml\n"):
        text = text.replace(line, "")
    proxy_conf.write_text(text)
    routing = conf / "demo" / "plugins" / "microservices" / "routing.yaml"
    routing.write_text(re.sub(r"(?m)^\s+efos_mobile: \w+.*\n", "", routing.read_text()))
    applications = conf / "demo" / "applications.yaml"
    data = yaml.safe_load(applications.read_text())
    data["applications"] = [a for a in data["applications"] if a.get("protocol") == "saml"]
    applications.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return conf / "demo"


def stock_conf(layout: Layout) -> Path:
    """A minimal SATOSA 8.6 configuration: its SAMLFrontend and SAMLBackend, same keys, same
    entityIDs and endpoints as conf/demo (so the peers' metadata fits both), no micro-services."""
    conf = layout.root / "conf-stock"
    conf.mkdir()
    base, keys, metadata = layout.urls.proxy, layout.keys, layout.metadata
    frontend = {
        "module": "satosa.frontends.saml2.SAMLFrontend",
        "name": "idp",
        "config": {
            "entityid_endpoint": True,
            "idp_config": {
                "entityid": f"{base}/metadata/idp.xml",
                "key_file": str(keys / "frontend.key"),
                "cert_file": str(keys / "frontend.crt"),
                "attribute_map_dir": attributemaps.SAMBI,
                "metadata": {"local": [str(metadata / "sp" / "demo-app.xml")]},
                **SHA256,
                "service": {
                    "idp": {
                        **SHA256,
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "endpoints": {"single_sign_on_service": []},
                        "policy": {
                            "default": {
                                "sign_response": True,
                                "sign_assertion": True,
                                "encrypt_assertion": True,
                                "lifetime": {"minutes": 5},
                                "name_form": NAME_FORMAT_URI,
                                "attribute_restrictions": None,
                            }
                        },
                    }
                },
            },
            "endpoints": {
                "single_sign_on_service": {
                    BINDING_HTTP_POST: "sso/post",
                    BINDING_HTTP_REDIRECT: "sso/redirect",
                }
            },
        },
    }
    backend = {
        "module": "satosa.backends.saml2.SAMLBackend",
        "name": "orgidp",
        "config": {
            "entityid_endpoint": True,
            "sp_config": {
                "entityid": f"{base}/metadata/sp.xml",
                "key_file": str(keys / "backend.key"),
                "cert_file": str(keys / "backend.crt"),
                "encryption_keypairs": [
                    {"key_file": str(keys / "backend.key"), "cert_file": str(keys / "backend.crt")}
                ],
                "attribute_map_dir": attributemaps.INCOMING,
                "metadata": {"local": [str(metadata / "idp" / f"{ORGANISATION}.xml")]},
                **SHA256,
                "service": {
                    "sp": {
                        **SHA256,
                        "authn_requests_signed": True,
                        "want_response_signed": True,
                        "want_assertions_signed": False,
                        "want_assertions_or_response_signed": True,
                        "allow_unsolicited": True,
                        "name_id_format": NAMEID_FORMAT_PERSISTENT,
                        "endpoints": {
                            "assertion_consumer_service": [
                                [f"{base}/orgidp/acs/post", BINDING_HTTP_POST]
                            ]
                        },
                    }
                },
            },
        },
    }
    (conf / "frontend.yaml").write_text(yaml.safe_dump(frontend))
    (conf / "backend.yaml").write_text(yaml.safe_dump(backend))
    proxy_conf = {
        "BASE": base,
        "COOKIE_STATE_NAME": "SATOSA_STATE",
        "COOKIE_SECURE": False,  # plain http on loopback
        "COOKIE_SAMESITE": "Lax",
        "CONTEXT_STATE_DELETE": True,
        "STATE_ENCRYPTION_KEY": secrets.token_urlsafe(32),
        "INTERNAL_ATTRIBUTES": str(REPO / "conf" / "internal_attributes.yaml"),
        "BACKEND_MODULES": [str(conf / "backend.yaml")],
        "FRONTEND_MODULES": [str(conf / "frontend.yaml")],
        "MICRO_SERVICES": [],
        "LOGGING": {
            "version": 1,
            "handlers": {"stderr": {"class": "logging.StreamHandler"}},
            "root": {"level": "INFO", "handlers": ["stderr"]},
        },
    }
    (conf / "proxy_conf.yaml").write_text(yaml.safe_dump(proxy_conf))
    return conf / "proxy_conf.yaml"


def proxy_server(name: str, layout: Layout, workers: int) -> Server:
    host, port = urlsplit(layout.urls.proxy).hostname, urlsplit(layout.urls.proxy).port
    log = layout.root / f"{name}.log"
    if name == "stock":
        app, env = "satosa.wsgi:app", {"SATOSA_CONFIG": str(stock_conf(layout))}
    else:
        env = {**demo.proxy_env(layout.urls, layout.demo_dir),
               "SATOSA_EFOS_CONF_DIR": str(ours_conf(layout))}  # fmt: skip
        app = "satosa_efos.app:create_app()"
    env[ENVIRONMENT] = os.environ.get(ENVIRONMENT, "")  # the proxy's own setting unless forced
    return Server(name, gunicorn_argv(app, f"{host}:{port}", workers), host, port, env, log)


# -- measuring -----------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def run_level(server: Server, proxy: str, hint: str | None, clients: int, logins: int) -> dict:
    per_client = max(1, math.ceil(logins / clients))
    master = server.process.pid
    cpu_before = proxy_cpu(master)
    began = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        results = pool.map(_client, [(proxy, hint, per_client)] * clients)
    elapsed = time.perf_counter() - began
    proxy_seconds = proxy_cpu(master) - cpu_before
    latencies = [x for r in results for x in r[0]]
    done = len(latencies)
    peaks = worker_peak_rss_mb(master)
    return {
        "clients": clients,
        "logins": done,
        "failed": sum(r[2] for r in results),
        "seconds": round(elapsed, 3),
        "logins_per_second": round(done / elapsed, 2),
        "latency_ms": {
            name: round(1000 * percentile(latencies, q), 1)
            for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
        },
        "proxy_cpu_ms_per_login": round(1000 * proxy_seconds / max(done, 1), 1),
        "peers_cpu_ms_per_login": round(1000 * sum(r[1] for r in results) / max(done, 1), 1),
        "peak_rss_mb_per_worker": round(max(peaks), 1) if peaks else None,
    }


def crypto_floor(repeat: int = 200) -> dict:
    """CPU time of the proxy's private-key operations per login, with ``cryptography``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    message = secrets.token_bytes(2048)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    wrapped = public.encrypt(secrets.token_bytes(32), oaep)
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def cpu_ms(operation) -> float:
        start = time.process_time()
        for _ in range(repeat):
            operation()
        return 1000 * (time.process_time() - start) / repeat

    sign = cpu_ms(lambda: key.sign(message, padding.PKCS1v15(), hashes.SHA256()))
    decrypt = cpu_ms(lambda: key.decrypt(wrapped, oaep))
    verify = cpu_ms(lambda: public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256()))
    encrypt = cpu_ms(lambda: public.encrypt(secrets.token_bytes(32), oaep))
    floor = PRIVATE_SIGNATURES * sign + PRIVATE_DECRYPTIONS * decrypt
    public_ops = PUBLIC_VERIFICATIONS * verify + PUBLIC_ENCRYPTIONS * encrypt
    return {
        "rsa2048_sign_ms": round(sign, 3),
        "rsa2048_oaep_decrypt_ms": round(decrypt, 3),
        "rsa2048_verify_ms": round(verify, 3),
        "rsa2048_oaep_encrypt_ms": round(encrypt, 3),
        "private_operations": f"{PRIVATE_SIGNATURES} signatures + {PRIVATE_DECRYPTIONS} decryption",
        "floor_ms_per_login": round(floor, 2),
        "public_operations_ms_per_login": round(public_ops, 3),
    }


def backend_operations(layout: Layout, repeat: int) -> dict:
    """Wall time of one operation of each crypto backend on a Response with one assertion,
    on an idle machine (xmlsec1's time is in its child processes, so not CPU of this one)."""
    from saml2.saml import Assertion, Issuer
    from saml2.samlp import Response
    from saml2.sigver import get_xmlsec_binary, pre_encryption_part, pre_signature_part

    from satosa_efos.xmlsec.xmlsec1 import Xmlsec1Backend

    key, cert = layout.keys / "frontend.key", layout.keys / "frontend.crt"
    cert_text = "".join(cert.read_text().splitlines()[1:-1])
    assertion = Assertion(id="_a", version="2.0", issue_instant="2025-01-01T00:00:00Z",
                          issuer=Issuer(text="bench"))  # fmt: skip
    assertion.signature = pre_signature_part("_a", cert_text, sign_alg=policy.RSA_SHA256,
                                             digest_alg=policy.SHA256)  # fmt: skip
    node = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
    figures = {}
    for name, backend in (("inprocess", InProcessBackend()),
                          ("xmlsec1", Xmlsec1Backend(get_xmlsec_binary()))):  # fmt: skip
        signed = backend.sign_statement(str(assertion), node, str(key), "_a")
        response = Response(id="_r", version="2.0", issue_instant="2025-01-01T00:00:00Z")
        response.assertion = Assertion(id="_a", version="2.0", issue_instant="2025-01-01T00:00:00Z")
        encrypted = backend.encrypt_assertion(copy.deepcopy(response), str(cert),
                                              pre_encryption_part())  # fmt: skip
        operations = {
            "sign": lambda b=backend: b.sign_statement(str(assertion), node, str(key), "_a"),
            "verify": lambda b=backend, s=signed: b.validate_signature(
                s, str(cert), "pem", node, "_a"
            ),  # fmt: skip
            "encrypt": lambda b=backend, r=response: b.encrypt_assertion(
                copy.deepcopy(r), str(cert), pre_encryption_part()
            ),  # fmt: skip
            "decrypt": lambda b=backend, e=encrypted: b.decrypt(e, str(key)),
        }
        runs = repeat if name == "inprocess" else max(3, repeat // 20)
        figures[name] = {}
        for operation, call in operations.items():
            began = time.perf_counter()
            for _ in range(runs):
                call()
            figures[name][f"{operation}_ms"] = round(1000 * (time.perf_counter() - began) / runs, 3)
    return figures


def run_proxy(name: str, layout: Layout, args, hint: str | None) -> dict:
    global _PEERS
    _PEERS = make_peers(layout)  # inherited by the forked clients
    server = proxy_server(name, layout, args.workers).start(timeout=60)
    try:
        for _ in range(args.warmup):  # every worker loads its metadata, caches and templates
            one_login(_PEERS, layout.urls.proxy, hint)
        levels = [
            run_level(server, layout.urls.proxy, hint, clients, args.logins)
            for clients in args.clients
        ]
    finally:
        server.stop()
    return {"levels": levels}


# -- where this proxy's time goes (in-process, under cProfile) ------------------------------

#: (label, file suffix, function): cumulative time per login, stages and pieces inside them.
STAGES = (
    ("whole proxy (every request of the login)", "satosa_efos/app.py", "__call__"),
    ("  SP's AuthnRequest: frontend (parse, checks, verify)", "frontends/saml_idp.py",
     "handle_authn_request"),
    ("    routing micro-service", "micro_services/routing.py", "process"),
    ("    backend: AuthnRequest to the IdP (signed)", "backends/organisation_idp.py",
     "authn_request"),
    ("  IdP's Response: backend, micro-services, frontend", "backends/organisation_idp.py",
     "authn_response"),
    ("    pysaml2: parse, verify, decrypt", "saml2/client_base.py",
     "parse_authn_request_response"),
    ("    scope micro-service (own time)", "micro_services/scope.py", "process"),
    ("    hsa micro-service, in-memory directory (own time)", "micro_services/hsa.py",
     "process"),
    ("    frontend: Response to the SP (build, sign, encrypt)", "frontends/saml_idp.py",
     "handle_authn_response"),
    ("  across both: state cookie seal (AES-GCM, zlib)", "satosa_efos/state_cookie.py", "encode"),
    ("  across both: state cookie open", "satosa_efos/state_cookie.py", "decode"),
    ("  across both: XML schema validation (libxml2)", "xmlsec/schema.py", "validate"),
    ("  across both: crypto sign (xmlsec, in-process)", "xmlsec/inprocess.py", "sign_statement"),
    ("  across both: crypto verify", "xmlsec/inprocess.py", "validate_signature"),
    ("  across both: crypto encrypt", "xmlsec/inprocess.py", "encrypt_assertion"),
    ("  across both: crypto decrypt", "xmlsec/inprocess.py", "decrypt"),
    ("  across both: query-string signature (pysaml2)", "saml2/sigver.py", "sign"),
)  # fmt: skip
#: SATOSA runs response micro-services as a chain (each calls the next, the last the frontend):
#: a stage's own time is its cumulative time less that of the next.
_CHAINED = (
    ("    scope micro-service (own time)", "    hsa micro-service, in-memory directory (own time)"),
    ("    hsa micro-service, in-memory directory (own time)",
     "    frontend: Response to the SP (build, sign, encrypt)"),
)  # fmt: skip


class WsgiAdapter(requests.adapters.BaseAdapter):
    """requests -> the WSGI application in this process (for profiling without HTTP)."""

    def __init__(self, app, profiler=None) -> None:
        super().__init__()
        self.app, self.profiler = app, profiler

    def send(self, request, **kwargs):
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        url = urlsplit(request.url)
        builder = EnvironBuilder(
            path=url.path, query_string=url.query, method=request.method,
            headers=dict(request.headers), data=request.body, base_url=f"{url.scheme}://{url.netloc}",
        )  # fmt: skip
        environ = builder.get_environ()
        if self.profiler:
            self.profiler.enable()
        try:
            body, status, headers = run_wsgi_app(self.app, environ)
            body = list(body)
        finally:
            if self.profiler:
                self.profiler.disable()
        response = requests.Response()
        response.status_code = int(status.split()[0])
        response.headers = requests.structures.CaseInsensitiveDict(headers.to_wsgi_list())
        response._content = b"".join(body)
        response.url, response.request = request.url, request
        response.raw = _CookieSource(headers.to_wsgi_list())  # Session reads Set-Cookie here
        requests.cookies.extract_cookies_to_jar(response.cookies, request, response.raw)
        return response

    def close(self) -> None:
        pass


class _CookieSource:
    """What ``extract_cookies_to_jar`` reads Set-Cookie headers from."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self._original_response = self
        self.msg = self
        self._headers = headers

    def get_all(self, name: str, default=None):
        found = [v for k, v in self._headers if k.lower() == name.lower()]
        return found or default


def profile_ours(layout: Layout, logins: int) -> dict:
    """Run ``logins`` logins through this proxy in this process, the proxy's own code (not the
    peers') under cProfile; cumulative milliseconds per login of each stage in STAGES."""
    import cProfile
    import pstats

    env = {**demo.proxy_env(layout.urls, layout.demo_dir), ENVIRONMENT: "inprocess"}
    conf = ours_conf(layout) if not (layout.root / "conf-ours").exists() else (
        layout.root / "conf-ours" / "demo")  # fmt: skip
    cwd = os.getcwd()
    with demo.environment(env):
        from satosa_efos.app import create_app

        app = create_app(conf)
        peers = make_peers(layout)
        original = requests.Session
        profiler, measuring = cProfile.Profile(), []

        def session() -> requests.Session:
            made = original()
            made.mount(layout.urls.proxy, WsgiAdapter(app, profiler if measuring else None))
            return made

        requests.Session = session
        try:
            one_login(peers, layout.urls.proxy, ORGANISATION)  # warm up, not profiled
            measuring.append(True)  # only the proxy's own code: the peers run outside
            for _ in range(logins):
                one_login(peers, layout.urls.proxy, ORGANISATION)
        finally:
            requests.Session = original
            os.chdir(cwd)
    profile_ours.last = pstats.Stats(profiler)  # for a closer look: tottime, callers
    stats = profile_ours.last.stats
    per_login = {}
    for label, suffix, function in STAGES:
        seconds = sum(
            value[3] for (path, _, name), value in stats.items()
            if name == function and path.endswith(suffix)
        )  # fmt: skip
        per_login[label] = 1000 * seconds / logins
    for stage, following in _CHAINED:
        per_login[stage] -= per_login[following]
    return {label: round(value, 2) for label, value in per_login.items()}


# -- output --------------------------------------------------------------------------------


def print_table(figures: dict) -> None:
    header = (f"{'proxy':<8}{'clients':>8}{'logins':>8}{'logins/s':>10}{'p50 ms':>9}"
              f"{'p95 ms':>9}{'p99 ms':>9}{'proxy CPU ms/login':>20}{'peers CPU ms':>14}"
              f"{'peak RSS MB/worker':>20}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for name in ("stock", "ours"):
        for level in figures[name]["levels"]:
            lat = level["latency_ms"]
            print(f"{name:<8}{level['clients']:>8}{level['logins']:>8}"
                  f"{level['logins_per_second']:>10.2f}{lat['p50']:>9.1f}{lat['p95']:>9.1f}"
                  f"{lat['p99']:>9.1f}{level['proxy_cpu_ms_per_login']:>20.1f}"
                  f"{level['peers_cpu_ms_per_login']:>14.1f}"
                  f"{level['peak_rss_mb_per_worker'] or 0:>20.1f}"
                  + (f"  ({level['failed']} failed)" if level["failed"] else ""))  # fmt: skip
    print()
    for ratio in figures["ratios"]:
        print(f"ours / stock at {ratio['clients']:>2} clients: logins/s x{ratio['throughput']}, "
              f"proxy CPU per login x{ratio['cpu_per_login']} "
              f"(stock needs {ratio['stock_cpu_over_ours']}x the CPU)")  # fmt: skip
    floor = figures["crypto_floor"]
    print(
        f"\ncrypto floor (cryptography, this machine): RSA-2048 sign {floor['rsa2048_sign_ms']} ms,"
        f" OAEP decrypt {floor['rsa2048_oaep_decrypt_ms']} ms; per login "
        f"{floor['private_operations']} = {floor['floor_ms_per_login']} ms "
        f"(public-key operations add {floor['public_operations_ms_per_login']} ms)"
    )
    for name, operations in figures["backend_operations"].items():
        print(f"{name} backend, ms per operation: "
              + ", ".join(f"{k[:-3]} {v}" for k, v in operations.items()))  # fmt: skip
    if figures.get("profile_ms_per_login"):
        print("\nthis proxy in one process under cProfile (profiler overhead included), ms/login:")
        for label, value in figures["profile_ms_per_login"].items():
            print(f"  {label:<58}{value:>8.2f}")
    for name in ("stock", "ours"):
        best = min(level["proxy_cpu_ms_per_login"] for level in figures[name]["levels"])
        print(f"{name}: proxy CPU per login / crypto floor = "
              f"{best / floor['floor_ms_per_login']:.1f}x")  # fmt: skip


def ratios(stock: dict, ours: dict) -> list[dict]:
    found = []
    for a, b in zip(stock["levels"], ours["levels"], strict=True):
        found.append(
            {
                "clients": a["clients"],
                "throughput": round(b["logins_per_second"] / a["logins_per_second"], 2),
                "cpu_per_login": round(
                    b["proxy_cpu_ms_per_login"] / a["proxy_cpu_ms_per_login"], 3
                ),
                "stock_cpu_over_ours": round(
                    a["proxy_cpu_ms_per_login"] / max(b["proxy_cpu_ms_per_login"], 0.1), 1
                ),
            }
        )
    return found


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each proxy")
    parser.add_argument("--logins", type=int, default=120, help="logins per concurrency level")
    parser.add_argument("--clients", type=lambda s: [int(c) for c in s.split(",")],
                        default=[1, 4, 16], help="concurrency levels, e.g. 1,4,16")  # fmt: skip
    parser.add_argument("--warmup", type=int, default=4, help="logins before measuring")
    parser.add_argument("--repeat", type=int, default=200, help="runs per crypto operation")
    parser.add_argument("--profile", type=int, default=0, metavar="LOGINS",
                        help="also profile this proxy in-process")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-saml-") as tmp:
        urls = demo.DemoUrls.free()
        layout = Layout(Path(tmp), urls)
        prepare(layout)
        print(f"{os.cpu_count()} CPUs, {args.workers} gunicorn workers per proxy, "
              f"{args.logins} logins per level", flush=True)  # fmt: skip
        figures: dict = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
            "workers": args.workers,
            "logins_per_level": args.logins,
        }  # fmt: skip
        figures["stock"] = run_proxy("stock", layout, args, hint=None)
        figures["ours"] = run_proxy("ours", layout, args, hint=ORGANISATION)
        figures["backend_operations"] = backend_operations(layout, args.repeat)
        if args.profile:
            figures["profile_ms_per_login"] = profile_ours(layout, args.profile)
    figures["ratios"] = ratios(figures["stock"], figures["ours"])
    figures["crypto_floor"] = crypto_floor()
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
