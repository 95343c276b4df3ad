"""TLS on the embedded server: clients that trust its CA connect, others are refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from bus.connection import ConnectSettings, NatsUnavailable, connect
from bus.embedded import EmbeddedNatsServer
from bus.eventstore.syncget import SyncDirectGetClient
from bus.security.authdir import AuthDir
from bus.security.client import ClientAuth, TlsFiles
from bus.topology import ensure_topology

pytestmark = pytest.mark.nats


@dataclass
class TlsServer:
    server: EmbeddedNatsServer
    auth: AuthDir
    ca: Path
    other_ca: Path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    base = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(base / "server.pem"))
    cert.private_key_pem.write_to_path(str(base / "server.key"))
    ca.cert_pem.write_to_path(str(base / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(base / "other-ca.pem"))
    auth = AuthDir(base / "auth").generate(["acc-a"])
    tls = TlsFiles(cert=str(base / "server.pem"), key=str(base / "server.key"))
    server = EmbeddedNatsServer(data_dir=base / "nats", auth_conf=auth.server_conf, tls=tls)
    with server:
        yield TlsServer(server, auth, base / "ca.pem", base / "other-ca.pem")


def settings(t: TlsServer, ca: Path, url: str | None = None) -> ConnectSettings:
    return ConnectSettings(
        url=url or t.server.url,
        creds_file=str(t.auth.admin_creds),
        tls=TlsFiles(ca=str(ca)),
        connect_timeout=2,
    )


async def test_client_when_it_trusts_the_servers_ca_then_connects_over_tls(
    tls_server: TlsServer,
) -> None:
    assert tls_server.server.url.startswith("tls://")
    nc = await connect(settings(tls_server, tls_server.ca))
    try:
        await ensure_topology(nc.jetstream())
        assert nc.connected_url is not None
    finally:
        await nc.close()


async def test_client_when_it_trusts_another_ca_then_refused_with_one_line(
    tls_server: TlsServer,
) -> None:
    with pytest.raises(NatsUnavailable) as caught:
        await connect(settings(tls_server, tls_server.other_ca))
    message = str(caught.value)
    assert "\n" not in message
    assert "TLS with NATS" in message
    assert str(tls_server.other_ca) in message


async def test_client_when_plain_nats_url_then_still_upgrades_to_tls(
    tls_server: TlsServer,
) -> None:
    plain = tls_server.server.url.replace("tls://", "nats://")
    nc = await connect(settings(tls_server, tls_server.ca, plain))
    await nc.close()


async def test_event_store_socket_client_when_tls_then_verifies_and_fails_over(
    tls_server: TlsServer,
) -> None:
    dead = "tls://127.0.0.1:1"
    url = f"{dead},{tls_server.server.url}"
    good = ClientAuth(
        creds_file=str(tls_server.auth.admin_creds), tls=TlsFiles(ca=str(tls_server.ca))
    )
    bad = ClientAuth(
        creds_file=str(tls_server.auth.admin_creds), tls=TlsFiles(ca=str(tls_server.other_ca))
    )
    trusted = SyncDirectGetClient(url, auth=good)
    untrusted = SyncDirectGetClient(tls_server.server.url, auth=bad)
    try:
        # No RISK messages needed: the answer (none) proves the TLS session and CONNECT.
        nc = await connect(settings(tls_server, tls_server.ca))
        try:
            await ensure_topology(nc.jetstream())
        finally:
            await nc.close()
        assert await asyncio.to_thread(trusted.last, "RISK", "risk.>", 3.0) is None
        with pytest.raises(ConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await asyncio.to_thread(untrusted.last, "RISK", "risk.>", 3.0)
    finally:
        trusted.close()
        untrusted.close()
