"""Finding the file the PBX named, as the hub sees it, and never one outside the roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recordings.locate import RecordingLocator, RecordingPathError
from tests.recordings.conftest import INBOUND, OUTBOUND, PBX_SPOOL

DAY = "2026/11/23"


def mapped(monitor: Path) -> RecordingLocator:
    return RecordingLocator([monitor], {PBX_SPOOL: str(monitor)})


def test_mixmonitor_full_path_is_mapped_to_the_hubs_mount(monitor: Path) -> None:
    found = mapped(monitor).locate(f"{PBX_SPOOL}/{DAY}/{INBOUND}")
    assert found == (monitor / "2026" / "11" / "23" / INBOUND).resolve()


def test_longest_prefix_wins(monitor: Path, tmp_path: Path) -> None:
    queue_dir = tmp_path / "queue-recordings"
    queue_dir.mkdir()
    (queue_dir / "q-1.wav").write_bytes(b"RIFF")
    locator = RecordingLocator(
        [monitor, queue_dir], {PBX_SPOOL: str(monitor), f"{PBX_SPOOL}/queues": str(queue_dir)}
    )
    assert locator.locate(f"{PBX_SPOOL}/queues/q-1.wav") == (queue_dir / "q-1.wav").resolve()


def test_prefix_matches_whole_directories_not_characters(monitor: Path) -> None:
    # /var/spool/asterisk/monitor2 is not under /var/spool/asterisk/monitor: left unmapped,
    # it is outside the roots.
    with pytest.raises(RecordingPathError, match="outside the recordings roots"):
        mapped(monitor).locate(f"{PBX_SPOOL}2/{DAY}/{INBOUND}")


def test_without_a_mapping_the_pbx_path_is_read_as_it_is(monitor: Path) -> None:
    locator = RecordingLocator([monitor])
    assert (
        locator.locate(f"{monitor}/{DAY}/{OUTBOUND}")
        == (monitor / "2026" / "11" / "23" / OUTBOUND).resolve()
    )


def test_cdr_recordingfile_bare_name_is_found_under_its_date_directory(monitor: Path) -> None:
    assert mapped(monitor).locate(INBOUND) == (monitor / "2026/11/23" / INBOUND).resolve()


def test_name_relative_to_the_spool_is_found(monitor: Path) -> None:
    assert mapped(monitor).locate(f"{DAY}/{INBOUND}") == (monitor / DAY / INBOUND).resolve()


def test_callfilename_without_extension_finds_the_wav(monitor: Path) -> None:
    stem = INBOUND.removesuffix(".wav")
    assert mapped(monitor).locate(stem) == (monitor / DAY / INBOUND).resolve()


def test_wav49_recording_is_found_with_its_upper_case_extension(monitor: Path) -> None:
    name = "in-2188000000-09121234567-20261123-000803-1795392482.5"
    (monitor / DAY / f"{name}.WAV").write_bytes(b"RIFF")
    locator = mapped(monitor)
    expected = (monitor / DAY / f"{name}.WAV").resolve()
    assert locator.locate(f"{PBX_SPOOL}/{DAY}/{name}.wav49") == expected
    # FreePBX's CDR(recordingfile) says ".wav" whatever MON_FMT wrote.
    assert locator.locate(f"{PBX_SPOOL}/{DAY}/{name}.wav") == expected


def test_missing_recording_is_none_not_an_error(monitor: Path) -> None:
    absent = f"{PBX_SPOOL}/{DAY}/in-2188000000--20261123-000936-1795392576.77.wav"
    assert mapped(monitor).locate(absent) is None


@pytest.mark.parametrize(
    "name",
    [
        f"{PBX_SPOOL}/{DAY}/../../../../../../etc/passwd",
        "../../etc/passwd",
        f"{DAY}/../../../x.wav",
    ],
)
def test_dot_dot_in_the_name_is_refused(monitor: Path, name: str) -> None:
    with pytest.raises(RecordingPathError, match=r"contains '\.\.'"):
        mapped(monitor).locate(name)


def test_absolute_path_outside_the_roots_is_refused(monitor: Path) -> None:
    with pytest.raises(RecordingPathError, match="outside the recordings roots"):
        mapped(monitor).locate("/etc/passwd")


def test_nul_byte_and_empty_names_are_refused(monitor: Path) -> None:
    with pytest.raises(RecordingPathError, match="NUL"):
        mapped(monitor).locate(f"{INBOUND}\x00.txt")
    with pytest.raises(RecordingPathError, match="empty"):
        mapped(monitor).locate("  ")


def test_symlink_leading_out_of_the_root_is_refused(monitor: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"not for agents")
    os.symlink(secret, monitor / DAY / "in-evil-20261123-000000-1.1.wav")
    with pytest.raises(RecordingPathError, match="symlink leads out"):
        mapped(monitor).locate(f"{PBX_SPOOL}/{DAY}/in-evil-20261123-000000-1.1.wav")


def test_symlinked_directory_leading_out_of_the_root_is_refused(
    monitor: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.wav").write_bytes(b"RIFF")
    os.symlink(outside, monitor / "2027")
    with pytest.raises(RecordingPathError, match="symlink leads out"):
        mapped(monitor).locate(f"{PBX_SPOOL}/2027/x.wav")


def test_symlink_within_the_root_is_followed(monitor: Path) -> None:
    os.symlink(monitor / DAY / INBOUND, monitor / "latest.wav")
    assert mapped(monitor).locate(f"{PBX_SPOOL}/latest.wav") == (monitor / DAY / INBOUND).resolve()


def test_root_that_is_itself_a_symlink_still_works(monitor: Path, tmp_path: Path) -> None:
    link = tmp_path / "monitor-link"
    os.symlink(monitor, link)
    locator = RecordingLocator([link], {PBX_SPOOL: str(link)})
    assert locator.locate(f"{PBX_SPOOL}/{DAY}/{INBOUND}") == (monitor / DAY / INBOUND).resolve()
