"""The IVR's contract check over FastAGI under a very busy IVR, open loop.

The hub side runs for real in this process: ``pbx_adapters.fastagi`` serving
``pbx_adapters.ivr`` over the daemon's CRM directory (``crm_sync``, SQLite,
``CTIHUB_BENCH_CUSTOMERS`` customers, default 1,000,000). The PBX side runs in
a separate process, so its CPU does not sit on the hub's loop: it keeps
``HELD`` (200) ``tracking`` sessions open (callers keying a code: the hub
waits on their ``GET DATA``) and opens ``RATE`` (100) new ``contract``
sessions a second, Poisson, whatever the hub's pace (open loop), each with the
AGI environment Asterisk 22 sent (``tests/fixtures/agi``) and a caller from the
database (national and international forms mixed). Each is timed from its
planned start (so a late hub is not hidden by late starts) to the moment the
``SET VARIABLE CTIHUB_CONTRACT`` line arrives: the caller's wait.

Baseline, same run, same load: the same sessions against a contract script
whose directory answers at once without the CRM (``agi_contract_baseline_*``):
what FastAGI and the sockets cost on this machine now.

Run alone with ``python -m bench.agi_contract``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import RESULTS_PATH, merge_results
from bench.pop_latency import CUSTOMERS, _caller_forms, _load_customers, _numbers, _quantiles_ms

log = logging.getLogger("bench.agi_contract")

SECONDS = float(os.environ.get("CTIHUB_BENCH_SECONDS", "20"))
HELD = 200
RATE = 100.0
FIXTURE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "agi" / "ivr_tracking_code.agi"
)


def _environment(script: str) -> list[str]:
    """The agi_* lines Asterisk sent for ``script`` in the recorded session."""
    lines, session = [], None
    for line in FIXTURE.read_text().splitlines():
        if line.startswith("### session"):
            session = line.rsplit(": ", 1)[1]
        elif session == script and line.startswith("<< agi_"):
            lines.append(line[3:])
    return lines


# --------------------------------------------------------------------------- the PBX side


async def _session(
    port: int, env: list[str], caller: str, hold: asyncio.Event | None
) -> tuple[float | None, str]:
    """One AGI session: (seconds from start to CTIHUB_CONTRACT, or None; how it ended)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"agi_callerid: {caller}" if x.startswith("agi_callerid:") else x for x in env]
    writer.write(("\n".join(lines) + "\n\n").encode())
    decided: float | None = None
    try:
        while line := (await reader.readline()).decode().strip():
            if line.startswith("SET VARIABLE CTIHUB_CONTRACT"):
                decided = time.monotonic() - started
            if line.startswith("GET DATA") and hold is not None:
                await hold.wait()  # a caller slow to key: the hub waits on this session
                writer.write(b"200 result= (timeout)\n")
            elif line.startswith("STREAM FILE"):
                writer.write(b"200 result=0 endpos=39520\n")
            else:
                writer.write(b"200 result=1\n")
            await writer.drain()
        return decided, "closed"
    except ConnectionError:
        return decided, "reset"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _pbx_main(port_text: str, callers_path: str, out_path: str) -> None:
    """Hold ``HELD`` sessions, open ``RATE`` contract sessions a second for ``SECONDS``."""
    port = int(port_text)
    callers: list[str] = json.loads(Path(callers_path).read_text())
    contract_env, tracking_env = _environment("contract"), _environment("tracking")
    hold = asyncio.Event()
    rng = random.Random(7)
    held = [
        asyncio.create_task(_session(port, tracking_env, rng.choice(callers), hold))
        for _ in range(HELD)
    ]
    await asyncio.sleep(1.0)  # all held sessions are waiting on GET DATA
    results: list[tuple[float, float | None, str]] = []

    async def timed(planned: float, caller: str) -> None:
        delay = planned - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        late = time.monotonic() - planned
        decided, how = await _session(port, contract_env, caller, None)
        results.append((late, None if decided is None else decided + late, how))

    start = time.monotonic() + 0.1
    at, planned = 0.0, []
    while (at := at + rng.expovariate(RATE)) < SECONDS:
        planned.append(asyncio.create_task(timed(start + at, rng.choice(callers))))
    await asyncio.gather(*planned)
    still_held = sum(1 for task in held if not task.done())
    hold.set()
    await asyncio.gather(*held, return_exceptions=True)
    Path(out_path).write_text(json.dumps({"results": results, "still_held": still_held}))
    print("done", flush=True)


# --------------------------------------------------------------------------- the hub side


class _AtOnce:
    """A directory answering without the CRM: the baseline."""

    def is_well_formed(self, code: str) -> bool:
        return False

    async def caller_profile(self, caller: str) -> Any:
        from pbx_adapters.ivr import CallerProfile

        return CallerProfile("active")

    async def case_by_code(self, code: str) -> Any:
        return None


async def _measure(workdir: Path, directory: Any, callers: list[str]) -> dict[str, Any]:
    from pbx_adapters.fastagi import FastAgiServer
    from pbx_adapters.ivr import IvrScripts

    # Warm, as a running hub is: phone metadata loaded, the database's pages read once.
    for caller in callers[-50:]:
        await directory.caller_profile(caller)
    server = FastAgiServer(IvrScripts(directory, lookup_timeout=1.0).scripts())
    port = await server.start("127.0.0.1", 0)
    callers_path, out_path = workdir / "callers.json", workdir / "sessions.json"
    callers_path.write_text(json.dumps(callers))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.agi_contract",
        "--pbx",
        str(port),
        str(callers_path),
        str(out_path),
        stdout=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(SECONDS + 120):
            done = await process.stdout.readline()
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await server.stop()
    if not done.startswith(b"done"):
        raise RuntimeError(f"the PBX side did not finish: {done!r}")
    data = json.loads(out_path.read_text())
    results = data["results"]
    decided = [r[1] for r in results if r[1] is not None]
    if len(decided) < len(results):
        raise RuntimeError(f"{len(results) - len(decided)} of {len(results)} sessions undecided")
    return {
        "latency": _quantiles_ms(decided),
        "start_late_p99_ms": _quantiles_ms([r[0] for r in results])["p99"],
        "sessions": len(results),
        "still_held": data["still_held"],
    }


async def _run() -> dict[str, Any]:
    from crm_sync.migrations import upgrade
    from crm_sync.phones import PhoneNormaliser
    from crm_sync.runtime import open_crm
    from crm_sync.settings import CrmConfig, DatabaseConfig
    from ctihub.daemon import CrmIvrDirectory

    with tempfile.TemporaryDirectory(prefix="ctihub-agi-bench-") as folder:
        workdir = Path(folder)
        url = f"sqlite+aiosqlite:///{workdir / 'crm.sqlite3'}"
        await upgrade(url)
        numbers = _numbers(CUSTOMERS)
        _load_customers(str(workdir / "crm.sqlite3"), numbers)
        callers = _caller_forms(numbers)
        crm = await open_crm(
            DatabaseConfig(url=url),
            CrmConfig(spool_dir=str(workdir / "spool")),
            PhoneNormaliser(region="IR"),
            migrate=False,
        )
        try:
            base = await _measure(workdir, _AtOnce(), callers)
            real = await _measure(workdir, CrmIvrDirectory(crm, 8), callers)
        finally:
            await crm.close()
    return {
        "agi_contract_p50_ms": real["latency"]["p50"],
        "agi_contract_p99_ms": real["latency"]["p99"],
        "agi_contract_p999_ms": real["latency"]["p999"],
        "agi_contract_max_ms": real["latency"]["max"],
        "agi_contract_baseline_p50_ms": base["latency"]["p50"],
        "agi_contract_baseline_p99_ms": base["latency"]["p99"],
        "agi_contract_client_start_late_p99_ms": real["start_late_p99_ms"],
        "agi_contract_sessions": real["sessions"],
        "agi_contract_sessions_held": HELD,
        "agi_contract_held_still_open": real["still_held"],
        "agi_contract_new_per_s": RATE,
        "agi_contract_customers_in_db": CUSTOMERS,
    }


def run() -> dict[str, Any]:
    """Measure and return the figures (the runner saves them to ``bench/results.json``)."""
    logging.getLogger("pbx_adapters").setLevel(logging.WARNING)
    return asyncio.run(_run())


def main(argv: list[str]) -> int:
    if argv[:1] == ["--pbx"]:
        asyncio.run(_pbx_main(*argv[1:4]))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    figures = run()
    merge_results(RESULTS_PATH, figures)
    for key, value in figures.items():
        print(f"{key:44} {value}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
