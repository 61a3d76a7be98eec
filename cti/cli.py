"""The ``ctihub`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from cti.config import ConfigError, load_settings
from cti.replay import TranscriptError, format_jsonl, format_text, read_transcript, replay


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
    return 0


def _config_check(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    print(f"configuration ok: pbx={settings.pbx} ami={settings.ami.host}:{settings.ami.port}")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"ctihub: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
