"""``ctihub init``: a configuration for a real PBX, its secrets file, the database and the
first admin, from flags or questions.

Two files are written: the commented TOML (no secrets in it) and an environment file
(mode 0600) with ``CTIHUB_AMI__SECRET`` and ``CTIHUB_HTTP__SECRET_KEY``, as the systemd
unit's ``EnvironmentFile`` reads it. Nothing is overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import json
import os
import secrets
import sys
from pathlib import Path

from crm_sync.db import Database
from crm_sync.migrations import upgrade
from crm_sync.people import AdminError, People, check_password
from crm_sync.settings import DatabaseConfig
from ctihub.admin_cli import actor, read_password
from ctihub.settings import ConfigError, load_settings

FIRST_ADMIN_COMMAND = "ctihub -c ctihub.toml user add admin --name 'Hub admin' --roles admin"
"""What to run when a production hub starts with nobody to log in."""

_TEMPLATE = """\
# ctihub configuration, written by `ctihub init` on {date}.
# Secrets are not here: they are in {env_file} (CTIHUB_AMI__SECRET, CTIHUB_HTTP__SECRET_KEY),
# which the systemd unit reads as its EnvironmentFile. Check with:
#   ctihub check-config -c {config_file}
# Every key of ctihub/examples/ctihub.example.toml (shipped in the package) may be
# added here; CTIHUB_<SECTION>__<KEY> in the environment overrides any of them.

# A real Asterisk, Issabel or FreePBX, over AMI. ("simulator" runs the built-in one.)
pbx = "asterisk"

[ami]
# The PBX's AMI address; the user is a [section] of manager.conf (Issabel/FreePBX:
# manager_custom.conf) with read = system,call,agent,user and write = system,call,agent,
# originate (see ctihub/examples/manager.conf.example).
host = {ami_host}
port = {ami_port}
username = {ami_user}
auth = "md5"

[database]
# SQLite under /var/lib/ctihub for one node; PostgreSQL for several:
#   "postgresql+asyncpg://ctihub@127.0.0.1:5432/ctihub"
url = {database_url}

[http]
# Where the panel listens. Behind nginx or Caddy keep 127.0.0.1 and set public_url to the
# address agents type, and trusted_proxies to the proxy's address.
host = {http_host}
port = {http_port}
public_url = {public_url}
trusted_proxies = []

[agi]
# FastAGI for the IVR (extensions_custom.conf: AGI(agi://THIS-HOST:4573/...)).
host = "0.0.0.0"
port = 4573
allowed_peers = [{ami_host}]
"""


def _ask(value: str | None, question: str, default: str, interactive: bool) -> str:
    if value:
        return value
    if not interactive:
        return default
    answer = input(f"{question} [{default}]: ").strip()
    return answer or default


def _toml(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string is a JSON string


def run_init(args: argparse.Namespace) -> int:
    """The ``ctihub init`` command."""
    interactive = not args.yes and sys.stdin.isatty()
    config_file = Path(args.output)
    env_file = Path(args.env_file or config_file.with_suffix(".env"))
    for path in (config_file, env_file):
        if path.exists() and not args.force:
            print(f"ctihub init: {path} exists; --force replaces it", file=sys.stderr)
            return 2
    ami_host = _ask(args.ami_host, "PBX AMI host", "127.0.0.1", interactive)
    ami_port = _ask(args.ami_port, "PBX AMI port", "5038", interactive)
    ami_user = _ask(args.ami_user, "AMI username (manager.conf section)", "ctihub", interactive)
    ami_secret = args.ami_secret or os.environ.get("CTIHUB_AMI__SECRET", "")
    if not ami_secret and interactive:
        ami_secret = getpass.getpass("AMI secret: ")
    database_url = _ask(
        args.database_url,
        "database URL",
        "sqlite+aiosqlite:////var/lib/ctihub/ctihub.sqlite3",
        interactive,
    )
    bind = _ask(args.http_bind, "panel HTTP bind (host:port)", "127.0.0.1:8080", interactive)
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        print(f"ctihub init: --http-bind must be HOST:PORT, got {bind!r}", file=sys.stderr)
        return 2
    public_url = _ask(args.public_url, "public URL agents open", f"http://{bind}", interactive)
    if not ami_port.isdigit():
        print(f"ctihub init: --ami-port must be a number, got {ami_port!r}", file=sys.stderr)
        return 2
    config_file.write_text(
        _TEMPLATE.format(
            date=dt.date.today().isoformat(),
            env_file=env_file,
            config_file=config_file,
            ami_host=_toml(ami_host),
            ami_port=int(ami_port),
            ami_user=_toml(ami_user),
            database_url=_toml(database_url),
            http_host=_toml(host),
            http_port=int(port),
            public_url=_toml(public_url),
        ),
        encoding="utf-8",
    )
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# ctihub secrets (systemd EnvironmentFile); keep this file mode 0600\n")
        out.write(f"CTIHUB_AMI__SECRET={ami_secret}\n")
        out.write(f"CTIHUB_HTTP__SECRET_KEY={secrets.token_urlsafe(48)}\n")
    print(f"wrote {config_file} and {env_file} (mode 0600)")
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        print(f"ctihub init: the written configuration does not validate: {exc}", file=sys.stderr)
        return 2
    if args.no_admin:
        return 0
    admin = _ask(args.admin_user, "first admin's username", "admin", interactive)
    try:
        password = check_password(read_password(args, f"password for {admin}: "), admin)
        person = asyncio.run(_first_admin(settings.database, admin, password))
    except AdminError as exc:
        print(f"ctihub init: {exc.field}: {exc}", file=sys.stderr)
        return 2
    print(f"database ready; first admin {person} created. Start with: ctihub -c {config_file} run")
    return 0


async def _first_admin(config: DatabaseConfig, username: str, password: str) -> str:
    await upgrade(config.url)
    database = Database(config)
    try:
        person = await People(database).create(
            actor(), username=username, name=username, password=password, roles=["admin"]
        )
    finally:
        await database.dispose()
    return person.username


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ctihub init``."""
    p = sub.add_parser(
        "init", help="write a configuration for a real PBX, create the database and first admin"
    )
    p.add_argument("--output", default="ctihub.toml", help="configuration to write")
    p.add_argument("--env-file", help="secrets file to write (default: beside it, .env)")
    p.add_argument("--ami-host")
    p.add_argument("--ami-port")
    p.add_argument("--ami-user")
    p.add_argument("--ami-secret", help="better: CTIHUB_AMI__SECRET in the environment")
    p.add_argument("--database-url")
    p.add_argument("--http-bind", help="HOST:PORT the panel listens on")
    p.add_argument("--public-url", help="the URL agents open (behind a proxy: https://…)")
    p.add_argument("--admin-user")
    p.add_argument("--password-stdin", action="store_true", help="read the admin's password")
    p.add_argument("--no-admin", action="store_true", help="write the files only")
    p.add_argument("-y", "--yes", action="store_true", help="take defaults, ask nothing")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(handler=run_init)
