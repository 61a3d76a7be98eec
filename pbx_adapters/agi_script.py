"""``ctihub-agi``: the hub's IVR as a classic AGI script, for PBXes that cannot reach FastAGI.

Asterisk runs it on the PBX box, once per call, talking AGI over stdin and
stdout (through pyst2's :class:`asterisk.agi.AGI`)::

    exten => s,n,AGI(ctihub-agi,contract)   ; sets CTIHUB_CONTRACT
    exten => s,n,AGI(ctihub-agi,tracking)   ; sets CTIHUB_CASE, _STATUS, _OWNER

It asks the hub over HTTP (``/api/v1/ivr/*``, see ``popup_server/ivr_api.py``)
and sets the same channel variables, plays the same prompts, as the FastAGI
scripts in :mod:`pbx_adapters.ivr`, so one dialplan serves both. It fails
open: when the hub is slow, down or misconfigured the caller is treated as
served (``CTIHUB_CONTRACT=unknown``, no case) and goes on to the queue.

Settings come from a TOML file (``--config``, else ``$CTIHUB_AGI_CONFIG``,
else ``/etc/ctihub/agi.toml``), each overridable by the environment::

    hub_url = "https://hub.example.com"   # CTIHUB_AGI_HUB_URL
    token = "…"                          # CTIHUB_AGI_TOKEN: the hub's [http] ivr_token
    timeout = 1.0                         # seconds per request to the hub
    attempts = 3                          # tries to key a valid tracking code
    code_length = 8
    [prompts]
    contract_expired = "ss-noservice"
    enter_code = "beep"
    invalid_code = "invalid"
    unknown_code = "invalid"

It starts once per call, so it imports the standard library and pyst2 only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from asterisk.agi import AGI, AGIHangup

log = logging.getLogger("ctihub.agi")

DEFAULT_CONFIG = "/etc/ctihub/agi.toml"
_MAX_REPLY_BYTES = 64 * 1024


class HubUnavailable(Exception):
    """The hub did not give a usable answer in time; the message says what came instead."""


@dataclass(frozen=True, slots=True)
class AgiScriptConfig:
    """Where the hub is and how the IVR behaves (see the module docstring)."""

    hub_url: str
    token: str = field(repr=False)
    timeout: float = 1.0
    attempts: int = 3
    code_length: int = 8
    prompts: dict[str, str] = field(
        default_factory=lambda: {
            "contract_expired": "ss-noservice",
            "enter_code": "beep",
            "invalid_code": "invalid",
            "unknown_code": "invalid",
        }
    )


def load_config(path: str | None, environ: dict[str, str]) -> AgiScriptConfig:
    """Read the TOML file and the environment; :class:`ValueError` names what is wrong."""
    where = path or environ.get("CTIHUB_AGI_CONFIG") or DEFAULT_CONFIG
    data: dict[str, Any] = {}
    if Path(where).exists():
        try:
            data = tomllib.loads(Path(where).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    elif path is not None:
        raise ValueError(f"{where}: no such file")
    hub_url = environ.get("CTIHUB_AGI_HUB_URL") or data.get("hub_url")
    token = environ.get("CTIHUB_AGI_TOKEN") or data.get("token")
    if not isinstance(hub_url, str) or not hub_url.startswith(("http://", "https://")):
        raise ValueError(f"hub_url: expected an http(s) URL, got {hub_url!r}")
    if not isinstance(token, str) or not token:
        raise ValueError("token: expected the hub's [http] ivr_token")
    defaults = AgiScriptConfig(hub_url, token)
    prompts = dict(defaults.prompts)
    given = data.get("prompts", {})
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        raise ValueError("prompts: expected a table of sound file names")
    unknown = set(given) - set(prompts)
    if unknown:
        raise ValueError(f"prompts: unknown {sorted(unknown)}, expected some of {sorted(prompts)}")
    prompts.update(given)
    numbers = {}
    for key, low, high in (("timeout", 0.05, 30.0), ("attempts", 1, 10), ("code_length", 4, 16)):
        value = data.get(key, getattr(defaults, key))
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise ValueError(f"{key}: expected a number from {low} to {high}, got {value!r}")
        numbers[key] = value
    return AgiScriptConfig(
        hub_url.rstrip("/"),
        token,
        timeout=float(numbers["timeout"]),
        attempts=int(numbers["attempts"]),
        code_length=int(numbers["code_length"]),
        prompts=prompts,
    )


class HubClient:
    """The two questions, over HTTP with a timeout; any failure is :class:`HubUnavailable`."""

    def __init__(self, config: AgiScriptConfig) -> None:
        self._config = config

    def _get(self, path: str, **query: str) -> dict[str, Any]:
        url = f"{self._config.hub_url}/api/v1/ivr/{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(
            url,
            headers={"Authorization": f"Bearer {self._config.token}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._config.timeout) as response:
                body = response.read(_MAX_REPLY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise HubUnavailable(f"hub answered HTTP {exc.code} to {path}, expected 200") from None
        except (OSError, urllib.error.URLError) as exc:  # refused, timed out, TLS, DNS
            raise HubUnavailable(f"hub unreachable for {path}: {exc}") from None
        if len(body) > _MAX_REPLY_BYTES:
            raise HubUnavailable(f"hub's answer to {path} exceeds {_MAX_REPLY_BYTES} bytes")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HubUnavailable(f"hub's answer to {path} is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise HubUnavailable(f"hub's answer to {path} is not a JSON object")
        return data

    def contract_state(self, caller: str) -> str:
        state = self._get("contract", caller=caller).get("state")
        if state not in ("active", "expiring", "expired", "none"):
            raise HubUnavailable(f"hub's contract state {state!r} is not one the IVR knows")
        return str(state)

    def case(self, code: str) -> tuple[bool, dict[str, Any] | None]:
        """(well formed, the case ``{code, status, owner_extension}`` or None)."""
        data = self._get("case", code=code)
        case = data.get("case")
        if not isinstance(case, dict) and case is not None:
            raise HubUnavailable("hub's case is neither an object nor null")
        if case is not None and not (isinstance(case.get("code"), str) and case.get("status")):
            raise HubUnavailable("hub's case has no code or status")
        return bool(data.get("well_formed")), case


def contract(agi: AGI, hub: HubClient | None, config: AgiScriptConfig | None) -> None:
    """Set ``CTIHUB_CONTRACT``; play the "cannot be served" prompt for an expired contract."""
    caller = agi.env.get("agi_callerid", "")
    state = "unknown"
    if hub is not None:
        try:
            state = hub.contract_state(caller)
        except HubUnavailable as exc:
            log.warning("contract check failed open uniqueid=%s: %s", _uid(agi), exc)
    agi.set_variable("CTIHUB_CONTRACT", state)
    if state == "expired" and config is not None:
        agi.stream_file(config.prompts["contract_expired"])


def tracking(agi: AGI, hub: HubClient | None, config: AgiScriptConfig | None) -> None:
    """Ask for a tracking code; set ``CTIHUB_CASE``, ``_STATUS``, ``_OWNER`` for a known case."""
    if hub is None or config is None:
        return  # no hub to ask: straight on to the queue
    for _ in range(config.attempts):
        code = agi.get_data(config.prompts["enter_code"], 6000, config.code_length)
        if not code:
            return  # nothing keyed: on to the queue
        try:
            well_formed, case = hub.case(code)
        except HubUnavailable as exc:
            log.warning("case lookup failed open uniqueid=%s: %s", _uid(agi), exc)
            return
        if case is None:
            agi.stream_file(config.prompts["unknown_code" if well_formed else "invalid_code"])
            continue
        agi.set_variable("CTIHUB_CASE", case["code"])
        agi.set_variable("CTIHUB_CASE_STATUS", str(case["status"]))
        if case.get("owner_extension"):
            agi.set_variable("CTIHUB_CASE_OWNER", str(case["owner_extension"]))
        agi.say_digits(case["code"])
        return


SCRIPTS = {"contract": contract, "tracking": tracking}


def _uid(agi: AGI) -> str:
    return str(agi.env.get("agi_uniqueid", "?"))


def main(
    argv: list[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    """Run one script for one call; the exit status is 0 unless the arguments are wrong."""
    parser = argparse.ArgumentParser(prog="ctihub-agi", description=__doc__.split("\n")[0])
    parser.add_argument("script", choices=sorted(SCRIPTS))
    parser.add_argument("--config", help=f"TOML settings (default {DEFAULT_CONFIG})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="ctihub-agi: %(message)s")
    try:
        config: AgiScriptConfig | None = load_config(args.config, dict(environ or os.environ))
    except ValueError as exc:
        log.error("bad configuration, failing open: %s", exc)
        config = None
    # pyst2 echoes the AGI environment (callers' numbers) to stderr: not to the PBX's log.
    with open(os.devnull, "w") as quiet:
        try:
            agi = AGI(stdin=stdin or sys.stdin, stdout=stdout or sys.stdout, stderr=quiet)
            SCRIPTS[args.script](agi, HubClient(config) if config else None, config)
        except AGIHangup:
            pass  # the caller left; nothing to route
    return 0


if __name__ == "__main__":
    sys.exit(main())
