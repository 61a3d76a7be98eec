"""Recording files as audio: their duration, their media type, smaller copies for browsers.

MixMonitor writes ``wav`` (PCM), ``wav49`` (GSM in a WAV container, written as
``.WAV``) or raw ``gsm``. Durations of all three come from the headers and the
size alone (stdlib); anything else goes through pydub, which needs ffmpeg.
Transcoding always needs ffmpeg and runs in an executor, never on the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

TranscodeTarget = Literal["mp3", "opus"]

MEDIA_TYPES: dict[str, str] = {
    ".wav": "audio/wav",
    ".gsm": "audio/gsm",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
}

# What pydub hands ffmpeg for each target: container, codec, bit rate, sample rate. Voice at
# 8 kHz gains nothing from more; 16 kHz keeps every browser's MP3 decoder on MPEG-2.
_EXPORTS: dict[str, tuple[str, str, str, str]] = {
    "mp3": ("mp3", "libmp3lame", "24k", "16000"),
    "opus": ("ogg", "libopus", "16k", "16000"),
}
_SUFFIX: dict[str, str] = {"mp3": ".mp3", "opus": ".ogg"}

_GSM_FRAME_BYTES = 33  # one raw GSM 06.10 frame: 160 samples, 20 ms at 8 kHz
_GSM_FRAME_SECONDS = 0.020


class MediaError(Exception):
    """A file cannot be read (or written) as audio; the message says which and why."""


def media_type(path: Path) -> str:
    """The Content-Type of a recording file, by its extension."""
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def duration_seconds(path: Path) -> float:
    """How long the recording lasts, in seconds. Blocking: run it in an executor.

    Raises :class:`MediaError` if the file is not audio this can read.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".wav":
            return _wav_duration(path)
        if suffix == ".gsm":
            return path.stat().st_size // _GSM_FRAME_BYTES * _GSM_FRAME_SECONDS
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc}") from exc
    return _pydub_duration(path)


def _wav_duration(path: Path) -> float:
    try:
        with wave.open(str(path), "rb") as reader:
            rate = reader.getframerate()
            if rate <= 0:
                raise MediaError(f"{path}: WAV header gives sample rate {rate}")
            return reader.getnframes() / rate
    except wave.Error:
        # Not PCM (wav49's GSM, A-law, mu-law): the stdlib refuses; the header still knows.
        return _riff_duration(path)
    except EOFError as exc:
        raise MediaError(f"{path}: WAV header is truncated") from exc


def _riff_duration(path: Path) -> float:
    """Duration of a non-PCM WAV from its ``fact`` sample count, else data size / byte rate."""
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise MediaError(f"{path}: not a RIFF/WAVE file")
        rate: int | None = None
        byte_rate: int | None = None
        samples: int | None = None
        data_size: int | None = None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                break
            name, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if name == b"fmt ":
                fmt = fh.read(size)
                if len(fmt) < 12:
                    raise MediaError(f"{path}: WAV fmt chunk is truncated")
                rate = int.from_bytes(fmt[4:8], "little")
                byte_rate = int.from_bytes(fmt[8:12], "little")
            elif name == b"fact" and size >= 4:
                samples = int.from_bytes(fh.read(4), "little")
                fh.seek(size - 4, os.SEEK_CUR)
            elif name == b"data":
                data_size = size
                break
            else:
                fh.seek(size, os.SEEK_CUR)
            if size % 2:  # RIFF pads chunks to even sizes
                fh.seek(1, os.SEEK_CUR)
    if rate and samples is not None:
        return float(samples) / rate
    if byte_rate and data_size is not None:
        return float(data_size) / byte_rate
    raise MediaError(f"{path}: WAV header has no sample count or byte rate")


def _pydub_duration(path: Path) -> float:
    if shutil.which("ffprobe") is None and shutil.which("ffmpeg") is None:
        raise MediaError(f"cannot measure {path}: ffmpeg is not installed")
    from pydub import AudioSegment  # imported late: pydub warns at import without ffmpeg
    from pydub.exceptions import CouldntDecodeError

    try:
        segment = AudioSegment.from_file(str(path))
    except (CouldntDecodeError, OSError) as exc:
        raise MediaError(f"cannot decode {path}: {exc}") from exc
    return float(len(segment)) / 1000.0


class Transcoder:
    """Makes and caches smaller copies of recordings for browsers (MP3 or Ogg Opus).

    Copies live under ``cache_dir``, named by a hash of the source's path, size
    and modification time, so a changed source gets a new copy and old copies
    are left for the retention purge. Without ffmpeg it logs so once and
    :meth:`browser_copy` returns None: the original is served instead.
    """

    def __init__(
        self,
        target: TranscodeTarget,
        cache_dir: Path,
        *,
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.target = target
        self.cache_dir = cache_dir
        # pydub runs the ffmpeg it finds on PATH; ``which`` is here to look for it the same way.
        self.ffmpeg = which("ffmpeg")
        self._inflight: dict[Path, asyncio.Future[Path]] = {}
        if self.ffmpeg is None:
            log.warning(
                "ffmpeg not found: recordings are served as recorded, not as %s "
                '(install ffmpeg or set [recordings] transcode = "none")',
                target,
            )

    @property
    def available(self) -> bool:
        """True when ffmpeg was found and copies can be made."""
        return self.ffmpeg is not None

    @property
    def media_type(self) -> str:
        """The Content-Type of the copies."""
        return MEDIA_TYPES[_SUFFIX[self.target]]

    def cached_path(self, source: Path) -> Path:
        """Where the copy of ``source`` (as it is now) lives. Blocking: stats ``source``."""
        stat = source.stat()
        key = hashlib.sha256(
            f"{source.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{self.target}".encode()
        ).hexdigest()
        return self.cache_dir / key[:2] / f"{key[2:34]}{_SUFFIX[self.target]}"

    async def browser_copy(self, source: Path) -> Path | None:
        """The cached copy of ``source``, made now in an executor if missing; None without ffmpeg.

        Concurrent requests for one file share one transcoding. Raises
        :class:`MediaError` if ffmpeg fails on the file.
        """
        if self.ffmpeg is None:
            return None
        loop = asyncio.get_running_loop()
        target = await loop.run_in_executor(None, self.cached_path, source)
        if await loop.run_in_executor(None, target.is_file):
            return target
        pending = self._inflight.get(target)
        if pending is None:
            pending = loop.run_in_executor(None, self._transcode, source, target)
            self._inflight[target] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(target, None))
        return await asyncio.shield(pending)

    def _transcode(self, source: Path, target: Path) -> Path:
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError, CouldntEncodeError

        container, codec, bitrate, rate = _EXPORTS[self.target]
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed: a reader never sees half a file.
        fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".part")
        os.close(fd)
        try:
            segment = AudioSegment.from_file(str(source))
            segment.export(
                partial,
                format=container,
                codec=codec,
                bitrate=bitrate,
                parameters=["-ar", rate, "-ac", "1"],
            ).close()
            os.replace(partial, target)
        except (CouldntDecodeError, CouldntEncodeError, OSError) as exc:
            raise MediaError(f"transcoding {source} to {self.target} failed: {exc}") from exc
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        # The source's name carries the caller's number: debug level only.
        log.debug("recording transcoded source=%s copy=%s", source, target.name)
        log.info(
            "recording transcoded copy=%s format=%s bytes=%d->%d",
            target.name,
            self.target,
            source.stat().st_size,
            target.stat().st_size,
        )
        return target
