"""Recordings as the hub hands them out: found under the roots, transcoded when configured.

The panel server asks for a call's recording by the name the PBX gave it;
:class:`RecordingLibrary` answers with a file that is certainly inside the
configured roots (or the transcode cache) and its media type.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from recordings.locate import RecordingLocator, RecordingPathError
from recordings.media import MediaError, Transcoder, media_type
from recordings.settings import RecordingsConfig

log = logging.getLogger(__name__)


class RecordingUnavailableError(Exception):
    """The recording cannot be served: not on disk (yet, or any more), or refused."""


@dataclass(frozen=True, slots=True)
class RecordingFile:
    """A file to send and its Content-Type."""

    path: Path
    media_type: str


class RecordingLibrary:
    """Finds recordings by the PBX's name and picks what to send a browser."""

    def __init__(self, locator: RecordingLocator, transcoder: Transcoder | None = None) -> None:
        self.locator = locator
        self.transcoder = transcoder

    @classmethod
    def from_config(cls, config: RecordingsConfig) -> RecordingLibrary:
        """The library ``[recordings]`` describes (a transcoder only if ``transcode`` is set)."""
        transcoder = (
            Transcoder(config.transcode, Path(config.cache_dir))
            if config.transcode != "none"
            else None
        )
        return cls(RecordingLocator.from_config(config), transcoder)

    async def locate(self, pbx_name: str) -> Path | None:
        """The file on the hub's disk, or None if absent; raises RecordingPathError if refused."""
        return await asyncio.to_thread(self.locator.locate, pbx_name)

    async def for_browser(self, pbx_name: str, *, original: bool = False) -> RecordingFile:
        """What to send for ``pbx_name``: the transcoded copy when configured, else the file.

        ``original``: the file as recorded, even when a copy would be sent.
        Raises :class:`RecordingUnavailableError` with a message fit for the user.
        """
        try:
            path = await self.locate(pbx_name)
        except RecordingPathError as exc:
            # The name (with the caller's number) at debug level only.
            log.warning("recording name refused: outside the recordings roots")
            log.debug("recording name refused: %s", exc)
            raise RecordingUnavailableError(
                "the recording is not in a recordings directory"
            ) from exc
        if path is None:
            raise RecordingUnavailableError(
                "the recording file is not on disk (recording was off, not written yet, or purged)"
            )
        if self.transcoder is not None and not original:
            try:
                copy = await self.transcoder.browser_copy(path)
            except MediaError as exc:
                log.error("transcoding failed, serving the original file")
                log.debug("transcoding failed: %s", exc)
                copy = None
            if copy is not None:
                return RecordingFile(copy, self.transcoder.media_type)
        return RecordingFile(path, media_type(path))
