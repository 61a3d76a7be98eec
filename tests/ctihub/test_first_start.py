"""First start: `ctihub init`, a PBX that must be chosen, and a hub with nobody to log in."""

from __future__ import annotations

import io
import logging
import socket
import stat
import tomllib
from pathlib import Path

import aiohttp
import pytest

from ctihub.cli import main
from ctihub.daemon import Hub
from ctihub.first_start import FIRST_ADMIN_COMMAND
from ctihub.settings import PBX_NOT_CHOSEN, ConfigError, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "ctihub" / "examples" / "ctihub.example.toml"


def test_init_writes_a_real_pbx_configuration_its_secrets_and_the_first_admin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("first-admin-pass-1\n"))
    code = main(
        [
            "init", "--yes", "--ami-host", "10.0.0.5", "--ami-user", "hub",
            "--ami-secret", "s3cret-ami", "--database-url",
            f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite3", "--http-bind", "127.0.0.1:8099",
            "--public-url", "https://cti.example", "--admin-user", "root", "--password-stdin",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    config = (tmp_path / "ctihub.toml").read_text()
    assert "s3cret-ami" not in config and config.count("#") > 5
    parsed = tomllib.loads(config)
    assert parsed["pbx"] == "asterisk"
    assert (parsed["ami"]["host"], parsed["ami"]["username"]) == ("10.0.0.5", "hub")
    assert (parsed["http"]["port"], parsed["http"]["public_url"]) == (8099, "https://cti.example")
    env = tmp_path / "ctihub.env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "CTIHUB_AMI__SECRET=s3cret-ami" in env.read_text()
    assert "CTIHUB_HTTP__SECRET_KEY=" in env.read_text()
    # The README's line, as written, on the file init wrote.
    assert main(["check-config", "-c", "ctihub.toml"]) == 0
    assert "pbx=asterisk ami=10.0.0.5:5038" in capsys.readouterr().out
    assert main(["-c", "ctihub.toml", "user", "list"]) == 0
    assert capsys.readouterr().out.startswith("root\troot\tadmin\t-\tactive")
    assert main(["init", "--yes", "--no-admin"]) == 2  # never overwrites


def test_without_a_pbx_choice_the_hub_does_not_start_on_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "bare.toml"
    bare.write_text('[ami]\nhost = "10.0.0.5"\n')
    assert main(["-c", str(bare), "check-config"]) == 2
    assert PBX_NOT_CHOSEN in capsys.readouterr().err
    with pytest.raises(ConfigError, match="pbx is not set"):
        Hub(load_settings(bare))
    assert load_settings(EXAMPLE).pbx == "asterisk"
    assert Hub(load_settings(bare), demo=True).settings.pbx == "simulator"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_production_start_with_nobody_says_so_and_serves_the_panel_without_its_pbx(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "CTIHUB_PBX": "asterisk",
        "CTIHUB_AMI__PORT": str(_closed_port()),
        "CTIHUB_AMI__SECRET": "x",
        "CTIHUB_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite3",
        "CTIHUB_CRM__SPOOL_DIR": str(tmp_path / "spool"),
        "CTIHUB_AGI__PORT": "0",
        "CTIHUB_HTTP__PORT": "0",
    }
    hub = Hub(load_settings(None, env=env))
    with caplog.at_level(logging.WARNING):
        await hub.start()
    try:
        assert hub.panel_url is not None
        assert any(FIRST_ADMIN_COMMAND in r.getMessage() for r in caplog.records)
        async with aiohttp.ClientSession() as session:
            page = await session.get(hub.panel_url)
            assert page.status == 200
            setup = await (await session.get(hub.panel_url + "api/v1/setup")).json()
        assert setup == {"needs_first_admin": True, "command": FIRST_ADMIN_COMMAND}
    finally:
        await hub.stop()
