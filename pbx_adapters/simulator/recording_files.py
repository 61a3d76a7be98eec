"""Real audio files for the simulated PBX's recorded calls, so recordings play in the demo.

Asterisk's MixMonitor writes a WAV while the call lasts and closes it at hangup;
the simulator writes one at the recorded channel's hangup instead: 8 kHz,
16-bit mono like the lab's files, as long as the recorded leg lived (at most
:data:`MAX_SECONDS`), under ``directory`` at the same relative path the PBX
names below its monitor directory (``2026/11/23/in-….wav``).
"""

from __future__ import annotations

import logging
import math
import wave
from array import array
from pathlib import Path

from pbx_adapters.simulator.channel import Fields

log = logging.getLogger(__name__)

RATE = 8000
MAX_SECONDS = 600


def _second() -> bytes:
    """One second of a quiet two-tone pattern (half a second each), recognisably not silence."""
    samples = array("h")
    for i in range(RATE):
        frequency = 440.0 if i < RATE // 2 else 660.0
        samples.append(int(1800 * math.sin(2 * math.pi * frequency * i / RATE)))
    return samples.tobytes()


class RecordingFiles:
    """A model listener writing one WAV per recorded channel when it hangs up."""

    def __init__(self, directory: str, monitor_dir: str) -> None:
        self._directory = Path(directory)
        self._monitor_dir = monitor_dir.rstrip("/") + "/"
        self._open: dict[str, tuple[str, float]] = {}
        self._second = _second()
        self.written: list[Path] = []

    def __call__(self, at: float, fields: Fields) -> None:
        event = dict(fields)
        name = event.get("Event")
        uniqueid = event.get("Uniqueid", "")
        if name == "VarSet" and event.get("Variable") == "MIXMONITOR_FILENAME":
            self._open[uniqueid] = (event.get("Value", ""), at)
        elif name == "Hangup" and uniqueid in self._open:
            path, started = self._open.pop(uniqueid)
            self._write(path, max(1.0, min(at - started, MAX_SECONDS)))

    def _write(self, pbx_path: str, seconds: float) -> None:
        relative = pbx_path.removeprefix(self._monitor_dir).lstrip("/")
        target = (self._directory / relative).resolve()
        if self._directory.resolve() not in target.parents:
            log.warning("recording path outside the demo spool refused path=%s", pbx_path)
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with wave.open(str(target), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(RATE)
                whole = int(seconds)
                out.writeframes(self._second * whole)
                out.writeframes(self._second[: int((seconds - whole) * RATE) * 2])
        except OSError as exc:
            log.warning("demo recording not written path=%s error=%s", target, exc)
            return
        self.written.append(target)
