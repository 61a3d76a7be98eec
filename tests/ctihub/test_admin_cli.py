"""``ctihub user|extension|token``: the admin operations from a shell, audited like the page's."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from crm_sync.audit import AuditLog
from crm_sync.db import Database
from crm_sync.settings import DatabaseConfig
from ctihub.cli import main


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/crm.sqlite3"
    monkeypatch.setenv("CTIHUB_DATABASE__URL", database_url)
    return database_url


def _run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _actions(url: str) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        database = Database(DatabaseConfig(url=url))
        try:
            return [(e.actor, e.action, e.target) for e in await AuditLog(database).entries()]
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_users_extensions_and_tokens_from_the_shell(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        return _run(monkeypatch, capsys, *argv, stdin=stdin)

    code, out, _ = run(
        "user", "add", "ali", "--name", "Ali Rezaei", "--roles", "agent,supervisor",
        "--extension", "SIP/1001", "--password-stdin", stdin="green-tea-at-9\n",
    )  # fmt: skip
    assert code == 0 and "roles agent,supervisor; extensions 1001" in out
    code, out, _ = run("user", "add", "sara", "--name", "Sara", "--password-stdin", stdin="x\n")
    assert code == 2
    code, _, err = run(
        "user", "add", "sara", "--name", "Sara", "--password-stdin", stdin="snow-falls-77\n"
    )
    assert code == 0
    code, _, err = run("extension", "map", "1001", "sara", "--technology", "PJSIP")
    assert code == 2 and "extension: extension 1001 belongs to Ali Rezaei (ali)" in err
    code, out, _ = run("extension", "map", "PJSIP/1002", "sara", "--label", "desk")
    assert code == 0 and "PJSIP/1002 mapped to sara" in out
    code, out, _ = run("extension", "list")
    assert out.splitlines() == ["1001\tSIP/1001\tali\t", "1002\tPJSIP/1002\tsara\tdesk"]
    code, out, _ = run(
        "token", "create", "--name", "crm", "--scopes", "calls:read,lookups", "--user", "sara"
    )
    token = out.splitlines()[1]
    assert code == 0 and token.startswith("cth_")
    code, out, _ = run("token", "list")
    assert token not in out and "calls:read,lookups\tsara\tnever\tlive" in out
    assert run("token", "revoke", "1")[0] == 0
    assert run("user", "disable", "sara")[0] == 0
    code, out, _ = run("user", "list")
    assert "sara\tSara\tagent\tPJSIP/1002\tdisabled" in out
    assert run("user", "passwd", "ali", "--password-stdin", stdin="other-tea-at-10\n")[0] == 0
    code, _, err = run("user", "disable", "nobody")
    assert code == 2 and "no user 'nobody'" in err
    actions = _actions(url)
    assert all(actor.startswith("cli:") for actor, _, _ in actions)
    assert [a for _, a, _ in reversed(actions)] == [
        "user.create",
        "extension.map",
        "user.create",
        "extension.map",
        "token.create",
        "token.revoke",
        "user.disable",
        "user.password",
    ]
