"""Where a recording the PBX named is on the hub's disk, and never anywhere else.

The PBX names a recording in its own file system, in one of three forms
(``[tracker] recording_variables``): MixMonitor's full path
(``MIXMONITOR_FILENAME``: ``/var/spool/asterisk/monitor/2026/11/23/in-….wav``),
the file name alone (FreePBX/Issabel's ``CDR(recordingfile)``: ``in-….wav``,
kept under ``YYYY/MM/DD/`` of the spool) or the name without its extension
(``CALLFILENAME``). The hub often sees the spool elsewhere (an NFS or SMB
mount), hence ``path_map``. A name is attacker-adjacent data (it carries the
caller's number and travels through AMI and the database), so whatever it
says, only files inside the configured roots are ever returned.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from recordings.settings import RecordingsConfig

KNOWN_SUFFIXES: frozenset[str] = frozenset({".wav", ".wav49", ".gsm", ".mp3", ".ogg", ".opus"})
"""Extensions a recording name may end with; anything else is read as a name without one."""

# Tried in this order for a name without an extension (CALLFILENAME): FreePBX's MON_FMT
# choices, where wav49 is written with an upper-case ".WAV".
_GUESSED_SUFFIXES: tuple[str, ...] = (".wav", ".WAV", ".gsm")

# FreePBX/Issabel's CALLFILENAME carries the call's date: in-DID-CALLER-20261123-000754-UID.
_DATE_STAMP = re.compile(r"-(\d{4})(\d{2})(\d{2})-\d{6}-")


class RecordingPathError(ValueError):
    """A recording name is malformed or leads outside the configured roots."""


class RecordingLocator:
    """Maps the PBX's recording names to existing files under the configured roots."""

    def __init__(self, roots: Sequence[str | Path], path_map: Mapping[str, str] | None = None):
        if not roots:
            raise ValueError("at least one recordings root is needed")
        self.roots: tuple[Path, ...] = tuple(Path(os.path.normpath(r)) for r in roots)
        # Longest PBX prefix first, so /var/spool/asterisk/monitor/q beats its parent.
        self._map: list[tuple[PurePosixPath, Path]] = sorted(
            (
                (PurePosixPath(os.path.normpath(pbx)), Path(os.path.normpath(hub)))
                for pbx, hub in (path_map or {}).items()
            ),
            key=lambda pair: len(pair[0].parts),
            reverse=True,
        )

    @classmethod
    def from_config(cls, config: RecordingsConfig) -> RecordingLocator:
        """A locator over ``[recordings] roots`` and ``path_map``."""
        return cls(config.roots, config.path_map)

    def candidates(self, pbx_name: str) -> list[Path]:
        """Where the file may be, as the hub sees it, most likely first; checks the name only.

        Raises :class:`RecordingPathError` for an empty name, a NUL byte, a ``..``
        component, or an absolute name that maps outside every root.
        """
        name = PurePosixPath(_checked(pbx_name))
        if name.is_absolute():
            base = self._mapped(name)
            if not any(_inside(base, root) for root in self.roots):
                raise RecordingPathError(
                    f"recording {pbx_name!r} is at {base}, outside the recordings roots "
                    f"({', '.join(map(str, self.roots))}); add a [recordings] path_map "
                    "entry or root"
                )
            bases = [base]
        else:
            bases = []
            dated = _dated_dir(name)
            for root in self.roots:
                bases.append(root.joinpath(*name.parts))
                if dated is not None:
                    bases.append(root.joinpath(*dated.parts, name.name))
        return [variant for base in bases for variant in _suffix_variants(base)]

    def locate(self, pbx_name: str) -> Path | None:
        """The existing file (symlinks resolved) for ``pbx_name``, or None if it is not there.

        None means no such file yet: recording was off for the call, or MixMonitor has
        not written it (or the mount is not there). Blocking (it stats files): call
        it from a thread on the loop. Raises :class:`RecordingPathError` when the
        name, or a symlink on the way, leads outside the roots.
        """
        real_roots = [root.resolve() for root in self.roots]
        for candidate in self.candidates(pbx_name):
            real = candidate.resolve()
            if not any(_inside(real, root) for root in real_roots):
                raise RecordingPathError(
                    f"recording {pbx_name!r} resolves to {real}, outside the recordings roots "
                    "(a symlink leads out)"
                )
            if real.is_file():
                return real
        return None

    def _mapped(self, name: PurePosixPath) -> Path:
        for pbx_prefix, hub_prefix in self._map:
            if name.is_relative_to(pbx_prefix):
                return hub_prefix.joinpath(*name.relative_to(pbx_prefix).parts)
        return Path(name)


def _checked(pbx_name: str) -> str:
    if not pbx_name or not pbx_name.strip():
        raise RecordingPathError("recording name is empty")
    if "\x00" in pbx_name:
        raise RecordingPathError(f"recording name {pbx_name!r} contains a NUL byte")
    if ".." in PurePosixPath(pbx_name).parts:
        raise RecordingPathError(f"recording name {pbx_name!r} contains '..'")
    return pbx_name


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _dated_dir(name: PurePosixPath) -> PurePosixPath | None:
    """``YYYY/MM/DD`` for a bare file name that carries its date, as FreePBX files it."""
    if len(name.parts) != 1:
        return None
    match = _DATE_STAMP.search(name.name)
    return PurePosixPath(*match.groups()) if match else None


def _suffix_variants(path: Path) -> list[Path]:
    """The names MixMonitor may have written for ``path``.

    ``wav49`` (GSM in a WAV container) is written with the extension ``.WAV``,
    whatever the name asked for; a name without an extension gets each usual one.
    """
    suffix = path.suffix
    if suffix.lower() not in KNOWN_SUFFIXES:
        return [path.with_name(path.name + s) for s in _GUESSED_SUFFIXES]
    if suffix.lower() == ".wav49":
        return [path.with_suffix(".WAV"), path]
    if suffix == ".wav":
        return [path, path.with_suffix(".WAV")]
    if suffix == ".WAV":
        return [path, path.with_suffix(".wav")]
    return [path]
