"""``GET /api/v1/calls/{call_id}/recording``: a call's recording, for those who were on it.

Supervisors and admins may play any call's recording. An agent may play a
call one of their extensions answered, rang for or took in a transfer, as the
call record says or, for calls the panel still remembers, the screen pop's
history; any other call answers 404, exactly as an unknown one, so that ids of
other people's calls cannot be probed. HTTP Range requests are honoured (206,
or 416 for a range outside the file), which is what lets a browser's
``<audio>`` element seek.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from aiohttp import web

from cti.screenpop import ScreenPops
from popup_server.auth import User
from popup_server.ports import CallRecording, Recordings, RecordingUnavailable
from popup_server.wire import encode

logger = logging.getLogger(__name__)

# Asterisk's uniqueids ("1795392474.1") and the like; anything else cannot be a call.
_CALL_ID_RE = re.compile(r"^[\w.-]{1,64}$")
_SUFFIX_BY_TYPE = {"audio/wav": ".wav", "audio/mpeg": ".mp3", "audio/ogg": ".ogg"}


def _not_found(message: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=encode({"error": message}), content_type="application/json")


class RecordingsApi:
    """The recording route; ``user_of`` is the REST API's bearer-token check (401)."""

    def __init__(
        self,
        user_of: Callable[[web.Request], User],
        recordings: Recordings | None,
        pops: ScreenPops,
    ) -> None:
        self._user_of = user_of
        self._recordings = recordings
        self._pops = pops

    def routes(self) -> list[web.RouteDef]:
        """The ``/api/v1`` routes of recordings."""
        return [web.get("/api/v1/calls/{call_id}/recording", self.recording)]

    async def recording(self, request: web.Request) -> web.StreamResponse:
        """The recording's bytes (``?format=original``: as recorded, even when transcoding)."""
        user = self._user_of(request)
        call_id = request.match_info["call_id"]
        unknown = f"no recording of call {call_id!r} for you"
        if not _CALL_ID_RE.match(call_id) or self._recordings is None:
            raise _not_found(unknown)
        recording = await self._recordings.find(call_id)
        if recording is None or not self._may_play(user, recording):
            raise _not_found(unknown)
        original = request.query.get("format") == "original"
        try:
            file = await self._recordings.for_browser(recording, original=original)
        except RecordingUnavailable as exc:
            raise _not_found(f"recording of call {call_id!r}: {exc}") from None
        if request.headers.get("Range") is None:
            # A play, not the element's seeks; the audit trail of who listened to what.
            logger.info("recording served call_id=%s user=%s", call_id, user.username)
        name = call_id + _SUFFIX_BY_TYPE.get(file.media_type, file.path.suffix.lower())
        return web.FileResponse(
            file.path,
            headers={
                "Content-Type": file.media_type,
                # Not the PBX's file name: it carries the caller's number.
                "Content-Disposition": f'inline; filename="{name}"',
                "Cache-Control": "private, no-store",
            },
        )

    def _may_play(self, user: User, recording: CallRecording) -> bool:
        if user.role in ("supervisor", "admin"):
            return True
        mine = set(user.extensions)
        if mine & recording.extensions:
            return True
        return self._pops.call_for(recording.call_id, mine) is not None
