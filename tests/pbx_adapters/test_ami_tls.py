"""AMI over TLS: a real certificate chain (made here with trustme), checked before logging in."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError

from pbx_adapters.ami import AmiLink, LinkState
from pbx_adapters.settings import AmiConfig

from .ami_fake_server import SECRET, FakeAmi, Received, ami_config, running_server, wait_until


def tls_server(ca: trustme.CA, *names: str) -> FakeAmi:
    server = FakeAmi()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    server.tls = context
    return server


def ca_file(ca: trustme.CA, tmp_path: Path, name: str = "ca.pem") -> str:
    path = tmp_path / name
    ca.cert_pem.write_to_path(str(path))
    return str(path)


async def test_link_logs_in_over_tls_to_a_pbx_whose_certificate_chains_to_the_ca(
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    async with running_server(tls_server(ca, "127.0.0.1", "localhost")) as server:
        config = ami_config(server.port, tls=True, tls_ca_file=ca_file(ca, tmp_path))
        link = AmiLink(config, Received())
        link.start()
        try:
            await link.wait_ready(5)
            assert link.state == LinkState.READY
            assert server.actions("Login")[0]["Secret"] == SECRET
        finally:
            await link.close()


@pytest.mark.parametrize("case", ["unknown_ca", "wrong_name", "plain_server"])
async def test_link_refuses_a_pbx_it_cannot_verify_and_never_sends_the_login(
    tmp_path: Path, case: str
) -> None:
    trusted, other = trustme.CA(), trustme.CA()
    if case == "unknown_ca":
        server = tls_server(other, "127.0.0.1")
    elif case == "wrong_name":
        server = tls_server(trusted, "ami.example.net")
    else:
        server = FakeAmi()  # a plain-text AMI where TLS was asked for
    async with running_server(server):
        config = ami_config(server.port, tls=True, tls_ca_file=ca_file(trusted, tmp_path))
        link = AmiLink(config, Received())
        link.start()
        try:
            await wait_until(lambda: link.stats.last_error is not None, 5)
            await asyncio.sleep(0.3)  # a few retries (0.02-0.1 s apart), refused alike
            assert link.state != LinkState.READY
            assert server.actions("Login") == []
            error = link.stats.last_error or ""
            if case != "plain_server":
                assert "CERTIFICATE_VERIFY_FAILED" in error or "certificate" in error.lower()
        finally:
            await link.close()


async def test_the_name_on_the_certificate_can_differ_from_the_address(tmp_path: Path) -> None:
    ca = trustme.CA()
    async with running_server(tls_server(ca, "ami.example.net")) as server:
        config = ami_config(
            server.port,
            tls=True,
            tls_ca_file=ca_file(ca, tmp_path),
            tls_server_name="ami.example.net",
        )
        link = AmiLink(config, Received())
        link.start()
        try:
            await link.wait_ready(5)
        finally:
            await link.close()


def test_a_missing_ca_file_is_a_configuration_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="tls_ca_file"):
        AmiConfig(tls=True, tls_ca_file=str(tmp_path / "nope.pem"))
