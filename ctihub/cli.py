"""The ``ctihub`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from cti.replay import TranscriptError, format_jsonl, format_text, read_transcript, replay
from ctihub import admin_cli, first_start
from ctihub.settings import ConfigError, chosen_pbx, load_settings, phone_normaliser


def _replay(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    calls = []
    for path in args.files:
        try:
            calls.extend(replay(read_transcript(path), settings.tracker))
        except FileNotFoundError:
            print(f"ctihub replay: {path}: no such file", file=sys.stderr)
            return 2
        except TranscriptError as exc:
            print(f"ctihub replay: {exc}", file=sys.stderr)
            return 2
    text = format_jsonl(calls) if args.format == "jsonl" else format_text(calls)
    if text:
        print(text)
    for call in calls:
        if call.reconciled:
            print(
                f"ctihub replay: call {call.call_id} was still up when the trace stopped "
                "(a lost link): ended at the last event seen",
                file=sys.stderr,
            )
    return 0


def _config_check(args: argparse.Namespace) -> int:
    settings = chosen_pbx(load_settings(args.config), demo=False)
    print(f"configuration ok: pbx={settings.pbx} ami={settings.ami.host}:{settings.ami.port}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from ctihub.daemon import Hub, demo_banner

    settings = chosen_pbx(load_settings(args.config), demo=args.demo)
    if args.demo and settings.pbx != "simulator":
        print(
            'ctihub run --demo: the demo runs on the simulated PBX (pbx = "simulator")',
            file=sys.stderr,
        )
        return 2
    hub = Hub(settings, demo=args.demo)

    def announce() -> None:
        print(
            demo_banner(hub) if args.demo else f"ctihub running: panel {hub.panel_url}", flush=True
        )

    try:
        asyncio.run(hub.run_until_signalled(on_started=announce))
    except OSError as exc:
        print(f"ctihub run: cannot start: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a bad scenario file, a bad template in the config
        print(f"ctihub run: {exc}", file=sys.stderr)
        return 2
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from crm_sync.commands import db_upgrade

    settings = load_settings(args.config)
    asyncio.run(db_upgrade(settings.database))
    print("database schema is up to date")
    return 0


def _import(args: argparse.Namespace) -> int:
    from crm_sync.commands import import_csv
    from crm_sync.csv_io import CsvImportError

    settings = load_settings(args.config)
    try:
        report = asyncio.run(
            import_csv(
                settings.database,
                settings.crm,
                phone_normaliser(settings),
                args.kind,
                args.file,
                strict=args.strict,
                show_progress=True,
            )
        )
    except (CsvImportError, FileNotFoundError) as exc:
        print(f"ctihub import: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        print(f"ctihub import: {_database_problem(exc)}", file=sys.stderr)
        return 2
    for error in report.errors:
        print(f"{args.file}: {error}", file=sys.stderr)
    print(
        f"{report.imported} of {report.rows} {args.kind} rows imported"
        + (f", {len(report.errors)} rejected" if report.errors else "")
    )
    return 0 if report.ok else 1


def _export(args: argparse.Namespace) -> int:
    from crm_sync.commands import export_csv

    settings = load_settings(args.config)
    try:
        rows = asyncio.run(export_csv(settings.database, args.kind, args.file))
    except DBAPIError as exc:
        print(f"ctihub export: {_database_problem(exc)}", file=sys.stderr)
        return 2
    print(f"{rows} {args.kind} rows written to {args.file}")
    return 0


def _database_problem(exc: DBAPIError) -> str:
    detail = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
    return f"the database refused: {detail} (has `ctihub db upgrade` been run?)"


def _recordings_purge(args: argparse.Namespace) -> int:
    from recordings.retention import RetentionOffError, purge

    settings = load_settings(args.config)
    try:
        report = purge(settings.recordings, dry_run=args.dry_run)
    except RetentionOffError as exc:
        print(f"ctihub recordings purge: {exc}", file=sys.stderr)
        return 2
    for path in report.files if args.dry_run else ():
        print(path)
    for error in report.errors:
        print(f"ctihub recordings purge: {error}", file=sys.stderr)
    verb = "would be deleted" if args.dry_run else "deleted"
    print(f"{len(report.files)} files ({report.bytes} bytes) {verb}")
    return 1 if report.errors else 0


def _report(args: argparse.Namespace) -> int:
    import datetime as dt
    import json

    from crm_sync.db import Database
    from crm_sync.reports import (
        Dimension,
        ReportError,
        ReportRequest,
        build_table,
        day_range,
        target_book,
    )

    settings = load_settings(args.config)
    figures = settings.figures
    try:
        first, last = (dt.date.fromisoformat(d) for d in (args.start, args.end))
    except ValueError as exc:
        print(f"ctihub report: --from/--to: give dates as YYYY-MM-DD ({exc})", file=sys.stderr)
        return 2
    try:
        start, end = day_range(first, last, figures.zone)
        by: tuple[Dimension, ...] = ("interval",) if args.interval else ("day",)
        request = ReportRequest(
            start, end, by, figures.zone, args.interval or 15, tuple(args.queue or ())
        )
    except ReportError as exc:
        print(f"ctihub report: {exc}", file=sys.stderr)
        return 2

    async def build() -> str:
        database = Database(settings.database)
        try:
            table = await build_table(
                database,
                args.kind,
                request,
                await target_book(database, figures.targets()),
                figures.kind,
                dt.datetime.now(dt.UTC),
            )
        finally:
            await database.dispose()
        if args.format == "json":
            return json.dumps(table.to_json(), ensure_ascii=False, indent=2)
        return table.to_csv() if args.format == "csv" else table.to_text()

    try:
        text = asyncio.run(build())
    except DBAPIError as exc:
        print(f"ctihub report: {_database_problem(exc)}", file=sys.stderr)
        return 2
    sys.stdout.write(text if args.format == "csv" else text + "\n")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from pbx_adapters.simulator import ScenarioError, load_scenario, run_virtual, write_transcript

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"ctihub simulate: {exc}", file=sys.stderr)
        return 2
    stream = run_virtual(scenario)
    if args.out == "-":
        count = write_transcript(stream, sys.stdout)
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            count = write_transcript(stream, fh)
        print(
            f"{count} AMI messages written to {args.out}; replay it with: ctihub replay {args.out}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctihub", description=__doc__)
    parser.add_argument("-c", "--config", help="TOML configuration file", default=None)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("replay", help="replay AMI transcripts and print one summary per call")
    p.add_argument("--format", choices=("text", "jsonl"), default="text")
    p.add_argument("files", nargs="+", help=".ami raw transcripts or their .jsonl twins")
    p.set_defaults(handler=_replay)

    p = sub.add_parser("check-config", help="validate the configuration and exit")
    p.set_defaults(handler=_config_check)

    p = sub.add_parser("run", help="run the daemon")
    p.add_argument(
        "--demo",
        action="store_true",
        help="seed demo CRM data and drive the simulated PBX with demo traffic",
    )
    p.set_defaults(handler=_run)

    p = sub.add_parser("db", help="database maintenance")
    db = p.add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="apply the schema migrations")
    p.set_defaults(handler=_db_upgrade)

    kinds = ("customers", "contracts", "cases")
    p = sub.add_parser("import", help="import a CSV file (UTF-8, with or without BOM)")
    p.add_argument("kind", choices=kinds)
    p.add_argument("file")
    p.add_argument("--strict", action="store_true", help="import nothing if any row is bad")
    p.set_defaults(handler=_import)

    p = sub.add_parser("export", help="export to a CSV file (UTF-8 with BOM)")
    p.add_argument("kind", choices=kinds)
    p.add_argument("file")
    p.set_defaults(handler=_export)

    p = sub.add_parser("recordings", help="call recordings maintenance")
    rec = p.add_subparsers(dest="recordings_command", required=True)
    p = rec.add_parser("purge", help="delete recordings older than [recordings] retention_days")
    p.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted, delete nothing"
    )
    p.set_defaults(handler=_recordings_purge)

    p = sub.add_parser(
        "report", help="call-center figures over a date range (Cisco UCCE definitions)"
    )
    p.add_argument("kind", choices=("calls", "agents", "queues", "teams"))
    p.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="end", required=True, help="last day (included), YYYY-MM-DD")
    p.add_argument("--format", choices=("text", "csv", "json"), default="text")
    p.add_argument(
        "--interval",
        type=int,
        choices=(15, 30, 60),
        help="calls: per interval of this many minutes instead of per day",
    )
    p.add_argument("--queue", action="append", help="only this queue (repeatable)")
    p.set_defaults(handler=_report)

    p = sub.add_parser("simulate", help="play a scenario on virtual time into a .jsonl transcript")
    p.add_argument(
        "scenario", help="scenario TOML, e.g. pbx_adapters/simulator/scenarios/demo.toml"
    )
    p.add_argument("--out", default="-", help="output .jsonl (default: standard output)")
    p.set_defaults(handler=_simulate)

    admin_cli.add_commands(sub)
    first_start.add_command(sub)
    _config_anywhere(sub)
    return parser


def _config_anywhere(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Accept ``-c FILE`` after the command too (``ctihub check-config -c ctihub.toml``)."""
    for command in sub.choices.values():
        nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            for inner in nested:
                _config_anywhere(inner)
        else:
            command.add_argument(
                "-c", "--config", default=argparse.SUPPRESS, help="TOML configuration file"
            )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"ctihub: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
