"""Free ports for the servers a test starts."""

from __future__ import annotations

import socket

from satosa_efos import demo
from satosa_efos.processes import free_ports


def test_free_ports_are_different_and_free():
    ports = free_ports(20)
    assert len(set(ports)) == 20
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_every_part_of_the_demo_gets_its_own_port():
    urls = demo.DemoUrls.free()
    everything = [urls.proxy, urls.app, urls.rp, urls.app2, urls.efos_api, urls.efos_phone,
                  urls.efos_ocsp,
                  *urls.idps.values()]  # fmt: skip
    assert len(set(everything)) == len(everything)
