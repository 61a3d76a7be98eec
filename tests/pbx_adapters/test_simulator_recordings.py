"""The simulated PBX writes a real WAV per recorded call (the demo's recordings play)."""

from __future__ import annotations

import wave
from pathlib import Path

from ctihub.daemon import with_demo_recordings
from ctihub.settings import Settings
from pbx_adapters.simulator.model import PbxModel
from pbx_adapters.simulator.recording_files import RecordingFiles
from pbx_adapters.simulator.spec import MONITOR_DIR, CallPlan, lab_pbx
from recordings.library import RecordingLibrary


def test_a_recorded_call_leaves_a_wav_as_long_as_the_call(tmp_path: Path) -> None:
    model = PbxModel(lab_pbx())
    files = RecordingFiles(str(tmp_path), MONITOR_DIR)
    model.add_listener(files)
    model.place_inbound_call(
        CallPlan(caller="+982188776655", did="2188000000", answer_delay=1.0, talk=12.0)
    )
    model.place_inbound_call(CallPlan(caller="+989121234567", did="2188000002", talk=5.0))
    model.run_all()
    assert len(files.written) == 1, "only the support line records"
    written = files.written[0]
    assert written.name.startswith("in-2188000000-982188776655-")
    assert written.parent.parent.parent.parent == tmp_path  # YYYY/MM/DD below the spool
    with wave.open(str(written)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        seconds = audio.getnframes() / audio.getframerate()
    assert 12.0 <= seconds <= 16.0  # from MixMonitor's start (before the queue) to hangup


async def test_demo_hub_reads_the_simulators_recordings_where_it_writes_them(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "monitor"
    settings = with_demo_recordings(Settings(simulator={"recordings_dir": str(spool)}))
    model = PbxModel(lab_pbx())
    files = RecordingFiles(settings.simulator.recordings_dir, MONITOR_DIR)
    model.add_listener(files)
    call = model.place_inbound_call(
        CallPlan(caller="+982188776655", did="2188000000", answer_delay=1.0, talk=3.0)
    )
    model.run_all()
    library = RecordingLibrary.from_config(settings.recordings)
    found = await library.for_browser(call.recording, original=True)
    assert found.path == files.written[0]
