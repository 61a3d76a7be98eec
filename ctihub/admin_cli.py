"""``ctihub user|extension|token``: the admin page's operations from a shell.

The same services as the page and the REST API (``crm_sync.people``,
``crm_sync.api_tokens``), so the same checks and the same audit entries, with
``cli:<os user>`` as the actor. Passwords are asked for (or read from standard
input with ``--password-stdin``), never taken as arguments, which ``ps`` shows.
A person disabled here cannot log in or renew a session; a panel already open
on a running hub ends at its next token renewal (minutes), not at once — the
admin page does that.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from crm_sync.api_tokens import ApiTokens
from crm_sync.db import Database
from crm_sync.migrations import upgrade
from crm_sync.people import AdminError, People
from crm_sync.settings import DatabaseConfig
from ctihub.settings import load_settings

T = TypeVar("T")


def actor() -> str:
    """Who the audit log names for a command run from a shell."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for this uid (a bare container)
        return "cli:unknown"


def read_password(args: argparse.Namespace, prompt: str = "password: ") -> str:
    """From standard input (``--password-stdin``) or asked twice on the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("again: ") != first:
        raise AdminError("password", "the two passwords differ")
    return first


def _with_database(args: argparse.Namespace, work: Callable[[Database], Awaitable[T]]) -> T:
    config: DatabaseConfig = load_settings(args.config).database

    async def run() -> T:
        await upgrade(config.url)
        database = Database(config)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _report(command: str, work: Callable[[], int]) -> int:
    try:
        return work()
    except AdminError as exc:
        print(f"ctihub {command}: {exc.field}: {exc}", file=sys.stderr)
        return 2


def _user_add(args: argparse.Namespace) -> int:
    def work() -> int:
        password = read_password(args)
        person = _with_database(
            args,
            lambda db: People(db).create(
                actor(),
                username=args.username,
                name=args.name,
                password=password,
                roles=args.roles,
                email=args.email,
                crm_user_id=args.crm_user_id,
                language=args.language,
                extensions=args.extension or (),
            ),
        )
        print(
            f"user {person.username} created: roles {','.join(person.roles)}; "
            f"extensions {','.join(person.extensions) or 'none'}"
        )
        return 0

    return _report("user add", work)


def _user_list(args: argparse.Namespace) -> int:
    people = _with_database(args, lambda db: People(db).everyone())
    for p in people:
        state = "active" if p.active else "disabled"
        print(
            f"{p.username}\t{p.name}\t{','.join(p.roles)}\t"
            f"{','.join(d.interface for d in p.devices) or '-'}\t{state}"
        )
    return 0


def _user_active(active: bool) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        def work() -> int:
            person = _with_database(
                args, lambda db: People(db).set_active(actor(), args.username, active)
            )
            print(f"user {person.username} {'enabled' if person.active else 'disabled'}")
            return 0

        return _report("user", work)

    return handler


def _user_passwd(args: argparse.Namespace) -> int:
    def work() -> int:
        password = read_password(args, f"new password for {args.username}: ")
        _with_database(args, lambda db: People(db).set_password(actor(), args.username, password))
        print(f"password of {args.username} changed")
        return 0

    return _report("user passwd", work)


def _extension_map(args: argparse.Namespace) -> int:
    def work() -> int:
        device = _with_database(
            args,
            lambda db: People(db).map_device(
                actor(), args.device, args.username, technology=args.technology, label=args.label
            ),
        )
        print(f"{device.interface} mapped to {device.username}")
        return 0

    return _report("extension map", work)


def _extension_unmap(args: argparse.Namespace) -> int:
    def work() -> int:
        _with_database(
            args, lambda db: People(db).unmap_device(actor(), args.device, args.technology)
        )
        print(f"{args.device} unmapped")
        return 0

    return _report("extension unmap", work)


def _extension_list(args: argparse.Namespace) -> int:
    for d in _with_database(args, lambda db: People(db).devices()):
        print(f"{d.extension}\t{d.interface}\t{d.username or '-'}\t{d.label or ''}")
    return 0


def _token_create(args: argparse.Namespace) -> int:
    def work() -> int:
        token, info = _with_database(
            args,
            lambda db: ApiTokens(db).create(
                actor(), name=args.name, scopes=args.scopes, username=args.user
            ),
        )
        print(f"token {info.id} ({info.name}; {','.join(info.scopes)}) for {info.username}:")
        print(token)
        print("It is shown only now: store it in the integration's secret store.", file=sys.stderr)
        return 0

    return _report("token create", work)


def _token_revoke(args: argparse.Namespace) -> int:
    def work() -> int:
        info = _with_database(args, lambda db: ApiTokens(db).revoke(actor(), args.id))
        print(f"token {info.id} ({info.name}) revoked")
        return 0

    return _report("token revoke", work)


def _token_list(args: argparse.Namespace) -> int:
    for t in _with_database(args, lambda db: ApiTokens(db).everyone()):
        state = "revoked" if t.revoked_at else "live"
        used = t.last_used_at.isoformat(timespec="minutes") if t.last_used_at else "never"
        print(f"{t.id}\t{t.name}\t{t.prefix}…\t{','.join(t.scopes)}\t{t.username}\t{used}\t{state}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``user``, ``extension`` and ``token`` under the ``ctihub`` command."""
    add_pbx_commands(sub)
    p = sub.add_parser("user", help="people: add, list, disable, enable, passwd")
    users = p.add_subparsers(dest="user_command", required=True)
    p = users.add_parser("add", help="create a person (asks for the password)")
    p.add_argument("username")
    p.add_argument("--name", required=True)
    p.add_argument(
        "--roles", default="agent", help="comma-separated: agent, supervisor, admin (agent)"
    )
    p.add_argument(
        "--extension",
        action="append",
        help="a device: 1001, PJSIP/1001, SIP/1001, IAX2/1001, Local/1001@from-queue/n",
    )
    p.add_argument("--email")
    p.add_argument("--crm-user-id", help="the person's user id in the external CRM")
    p.add_argument("--language", choices=("fa", "en"))
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(handler=_user_add)
    p = users.add_parser("list", help="everyone, with roles, devices and state")
    p.set_defaults(handler=_user_list)
    for verb, active in (("disable", False), ("enable", True)):
        p = users.add_parser(verb, help=f"{verb} a person")
        p.add_argument("username")
        p.set_defaults(handler=_user_active(active))
    p = users.add_parser("passwd", help="set a person's password")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(handler=_user_passwd)

    p = sub.add_parser("extension", help="devices: map, unmap, list")
    ext = p.add_subparsers(dest="extension_command", required=True)
    p = ext.add_parser("map", help="give a device to a person")
    p.add_argument("device", help="1001, PJSIP/1001, SIP/1001, IAX2/1001, Local/1001@ctx/n")
    p.add_argument("username")
    p.add_argument("--technology", help="for a bare extension: PJSIP (default), SIP or IAX2")
    p.add_argument("--label", help="desk phone, softphone…")
    p.set_defaults(handler=_extension_map)
    p = ext.add_parser("unmap", help="take a device (a bare extension: all of it) from its person")
    p.add_argument("device")
    p.add_argument("--technology")
    p.set_defaults(handler=_extension_unmap)
    p = ext.add_parser("list", help="every device and its person")
    p.set_defaults(handler=_extension_list)

    p = sub.add_parser("token", help="API tokens: create, revoke, list")
    tok = p.add_subparsers(dest="token_command", required=True)
    p = tok.add_parser("create", help="issue a token (printed once)")
    p.add_argument("--name", required=True)
    p.add_argument(
        "--scopes", required=True, help="comma-separated: calls:read,cases:write,lookups"
    )
    p.add_argument("--user", required=True, help="the person the token acts as")
    p.set_defaults(handler=_token_create)
    p = tok.add_parser("revoke", help="revoke a token by id")
    p.add_argument("id", type=int)
    p.set_defaults(handler=_token_revoke)
    p = tok.add_parser("list", help="every token (never the secret)")
    p.set_defaults(handler=_token_list)


def _pbx_import(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)

    async def run() -> int:
        from crm_sync.pbx_import import ImportPlan
        from ctihub.admin_backend import import_from_ami
        from pbx_adapters.ami import AmiLink
        from pbx_adapters.ami_actions import AmiActions

        await upgrade(settings.database.url)
        link = AmiLink(settings.ami, lambda message, at: None, wanted_events=())
        link.start()
        database = Database(settings.database)
        try:
            try:
                await link.wait_ready(settings.ami.connect_timeout + settings.ami.action_timeout)
            except TimeoutError:
                print(
                    f"ctihub pbx import: no AMI login at {settings.ami.host}:{settings.ami.port} "
                    f"({link.stats.last_error or 'no answer'})",
                    file=sys.stderr,
                )
                return 2
            plan: ImportPlan = await import_from_ami(
                database, AmiActions(link), actor(), apply=not args.dry_run
            )
        finally:
            await link.close()
            await database.dispose()
        verb = ("would add", "would change") if args.dry_run else ("added", "changed")
        for item in plan.add:
            print(f"{verb[0]}\t{item.kind}\t{item.name}\t{item.detail}")
        for item in plan.change:
            print(f"{verb[1]}\t{item.kind}\t{item.name}\t{item.detail}")
        for note in (*plan.skipped, *plan.problems):
            print(f"note\t{note}", file=sys.stderr)
        print(
            f"{len(plan.add)} to add, {len(plan.change)} to change"
            + (" (dry run: nothing changed)" if args.dry_run else "")
        )
        return 0

    return asyncio.run(run())


def _pbx_import_db(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)

    async def run() -> int:
        from crm_sync.freepbx_import import FreePbxDatabase, FreePbxImporter
        from ctihub.settings import phone_normaliser

        await upgrade(settings.database.url)
        source = FreePbxDatabase(args.url, config_db=args.config_db, cdr_db=args.cdr_db)
        database = Database(settings.database)
        importer = FreePbxImporter(database, phone_normaliser(settings))
        try:
            plan = await importer.import_config(source, actor(), apply=not args.dry_run)
            verb = "would add" if args.dry_run else "added"
            for item in plan.add:
                print(f"{verb}\t{item.kind}\t{item.name}\t{item.detail}")
            for note in plan.skipped:
                print(f"note\t{note}", file=sys.stderr)
            if args.cdr and not args.dry_run:
                report = await importer.import_cdr(source, actor())
                print(
                    f"call history: {report.read} CDR rows read, {report.written} calls written, "
                    f"{report.recordings_added} recordings added; resumes after {report.position}"
                )
        finally:
            await source.close()
            await database.dispose()
        return 0

    return asyncio.run(run())


def add_pbx_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ctihub pbx import [--dry-run]``."""
    p = sub.add_parser("pbx", help="the PBX's own data")
    pbx = p.add_subparsers(dest="pbx_command", required=True)
    p = pbx.add_parser(
        "import", help="add the devices and queues the PBX has (PJSIP/SIP/IAX2, QueueStatus)"
    )
    p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    p.set_defaults(handler=_pbx_import)
    p = pbx.add_parser(
        "import-db",
        help="read-only import from an Issabel/FreePBX MariaDB: devices, queues, call history",
    )
    p.add_argument("url", help="mysql+aiomysql://USER:PASSWORD@HOST:3306/ (a read-only user)")
    p.add_argument("--config-db", default="asterisk")
    p.add_argument("--cdr-db", default="asteriskcdrdb")
    p.add_argument("--dry-run", action="store_true", help="show the devices and queues only")
    p.add_argument(
        "--no-cdr", dest="cdr", action="store_false", help="skip the call history backfill"
    )
    p.set_defaults(handler=_pbx_import_db)
