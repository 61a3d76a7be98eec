"""Durations from the real recordings' headers, and copies for browsers made with real ffmpeg."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from recordings.library import RecordingLibrary, RecordingUnavailableError
from recordings.locate import RecordingLocator
from recordings.media import MediaError, Transcoder, duration_seconds, media_type
from tests.recordings.conftest import INBOUND, OUTBOUND, PBX_SPOOL, RECORDINGS, need_ffmpeg

DAY = "2026/11/23"


def wav49(blocks: int, *, with_fact: bool) -> bytes:
    """A wav49 file as Asterisk writes it: GSM 6.10 (Microsoft), 65-byte blocks of 320 samples."""
    fmt = (
        (0x31).to_bytes(2, "little")  # WAVE_FORMAT_GSM610
        + (1).to_bytes(2, "little")  # mono
        + (8000).to_bytes(4, "little")  # samples per second
        + (1625).to_bytes(4, "little")  # bytes per second
        + (65).to_bytes(2, "little")  # block align
        + (0).to_bytes(2, "little")  # bits per sample
        + (2).to_bytes(2, "little")  # extra bytes
        + (320).to_bytes(2, "little")  # samples per block
    )
    chunks = b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    if with_fact:
        chunks += b"fact" + (4).to_bytes(4, "little") + (blocks * 320).to_bytes(4, "little")
    chunks += b"data" + (blocks * 65).to_bytes(4, "little") + bytes(blocks * 65)
    return b"RIFF" + (4 + len(chunks)).to_bytes(4, "little") + b"WAVE" + chunks


def test_duration_of_the_real_inbound_recording_comes_from_its_header() -> None:
    # Header: data chunk of 0x58c0 = 22720 bytes, 2 bytes a frame -> 11360 frames at 8000 Hz.
    assert duration_seconds(RECORDINGS / INBOUND) == pytest.approx(1.42, abs=1e-9)


def test_duration_of_the_real_click_to_call_recording() -> None:
    assert duration_seconds(RECORDINGS / OUTBOUND) == pytest.approx(1.42, abs=1e-9)


@pytest.mark.parametrize("with_fact", [True, False])
def test_wav49_duration_is_read_from_its_header(tmp_path: Path, with_fact: bool) -> None:
    path = tmp_path / "in-1.WAV"
    path.write_bytes(wav49(10, with_fact=with_fact))
    # 10 blocks of 320 samples at 8 kHz; or 650 data bytes at 1625 bytes a second.
    assert duration_seconds(path) == pytest.approx(0.4, abs=1e-9)


def test_raw_gsm_duration_comes_from_its_size(tmp_path: Path) -> None:
    path = tmp_path / "in-1.gsm"
    path.write_bytes(bytes(33 * 75))  # 75 frames of 20 ms
    assert duration_seconds(path) == pytest.approx(1.5, abs=1e-9)


def test_a_wav_that_is_not_audio_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(b"this is not a RIFF file at all")
    with pytest.raises(MediaError, match="not a RIFF/WAVE file"):
        duration_seconds(path)


def test_media_types_follow_the_extension() -> None:
    assert media_type(Path("a.wav")) == "audio/wav"
    assert media_type(Path("a.WAV")) == "audio/wav"
    assert media_type(Path("a.mp3")) == "audio/mpeg"
    assert media_type(Path("a.ogg")) == "audio/ogg"


def test_wav49_made_by_ffmpeg_from_the_real_recording_measures_the_same(tmp_path: Path) -> None:
    need_ffmpeg()
    path = tmp_path / "in-1.WAV"
    subprocess.run(
        [
            *("ffmpeg", "-loglevel", "error", "-i", str(RECORDINGS / INBOUND)),
            *("-c:a", "libgsm_ms", "-f", "wav", str(path)),
        ],
        check=True,
        timeout=60,
    )
    # 1.42 s, give or take the last partly filled 320-sample block (40 ms).
    assert duration_seconds(path) == pytest.approx(1.42, abs=0.041)


@pytest.mark.parametrize(
    ("target", "magic", "suffix"), [("mp3", b"ID3", ".mp3"), ("opus", b"OggS", ".ogg")]
)
async def test_transcoded_copy_is_smaller_plays_as_long_and_is_cached(
    tmp_path: Path, target: str, magic: bytes, suffix: str
) -> None:
    need_ffmpeg()
    source = tmp_path / INBOUND
    shutil.copyfile(RECORDINGS / INBOUND, source)
    transcoder = Transcoder(target, tmp_path / "cache")  # type: ignore[arg-type]

    copy = await transcoder.browser_copy(source)

    assert copy is not None and copy.is_relative_to(tmp_path / "cache")
    assert copy.suffix == suffix
    data = copy.read_bytes()
    assert data.startswith(magic)
    if target == "opus":
        assert b"OpusHead" in data[:100]
    assert len(data) < source.stat().st_size / 2
    from pydub import AudioSegment

    assert len(AudioSegment.from_file(str(copy))) / 1000 == pytest.approx(1.42, abs=0.1)
    made = copy.stat().st_mtime_ns
    assert await transcoder.browser_copy(source) == copy
    assert copy.stat().st_mtime_ns == made, "the cached copy was made again"


async def test_concurrent_requests_share_one_transcoding(tmp_path: Path) -> None:
    need_ffmpeg()
    source = tmp_path / INBOUND
    shutil.copyfile(RECORDINGS / INBOUND, source)
    transcoder = Transcoder("mp3", tmp_path / "cache")
    found = await asyncio.gather(*(transcoder.browser_copy(source) for _ in range(4)))
    copies = [copy for copy in found if copy is not None]
    assert len(copies) == 4
    assert len(set(copies)) == 1
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == [copies[0].name]


async def test_a_changed_recording_gets_a_new_copy(tmp_path: Path) -> None:
    need_ffmpeg()
    source = tmp_path / INBOUND
    shutil.copyfile(RECORDINGS / INBOUND, source)
    transcoder = Transcoder("mp3", tmp_path / "cache")
    first = await transcoder.browser_copy(source)
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    second = await transcoder.browser_copy(source)
    assert first is not None and second is not None and first != second


async def test_without_ffmpeg_the_original_is_served_and_the_reason_logged(
    monitor: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="recordings.media"):
        transcoder = Transcoder("mp3", tmp_path / "cache", which=lambda _: None)
    assert "ffmpeg not found" in caplog.text
    assert await transcoder.browser_copy(monitor / DAY / INBOUND) is None
    library = RecordingLibrary(RecordingLocator([monitor], {PBX_SPOOL: str(monitor)}), transcoder)
    served = await library.for_browser(f"{PBX_SPOOL}/{DAY}/{INBOUND}")
    assert served.path == (monitor / DAY / INBOUND).resolve()
    assert served.media_type == "audio/wav"
    assert not (tmp_path / "cache").exists()


async def test_library_sends_the_copy_unless_the_original_is_asked_for(
    monitor: Path, tmp_path: Path
) -> None:
    need_ffmpeg()
    library = RecordingLibrary(
        RecordingLocator([monitor], {PBX_SPOOL: str(monitor)}),
        Transcoder("mp3", tmp_path / "cache"),
    )
    name = f"{PBX_SPOOL}/{DAY}/{INBOUND}"
    copy = await library.for_browser(name)
    assert (copy.media_type, copy.path.suffix) == ("audio/mpeg", ".mp3")
    original = await library.for_browser(name, original=True)
    assert (original.media_type, original.path.name) == ("audio/wav", INBOUND)


async def test_library_explains_a_missing_or_refused_recording(monitor: Path) -> None:
    library = RecordingLibrary(RecordingLocator([monitor], {PBX_SPOOL: str(monitor)}))
    with pytest.raises(RecordingUnavailableError, match="not on disk"):
        await library.for_browser(f"{PBX_SPOOL}/{DAY}/in-absent-20261123-000000-1.1.wav")
    with pytest.raises(RecordingUnavailableError, match="not in a recordings directory"):
        await library.for_browser("/etc/passwd")
