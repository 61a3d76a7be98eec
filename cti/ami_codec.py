"""Sans-I/O AMI codec: bytes in, header dicts out; actions in, bytes out.

The parser is fed whatever the socket delivered and returns whole messages.
It never raises on bad input: damaged messages are counted, logged once each
and skipped, and parsing resumes at the next message boundary.

Events the caller does not want are dropped by looking at the first header
line only, before any dict is built: on a busy PBX most of the stream is
``VarSet``/``Newexten``/``DeviceStateChange`` and this is where the time goes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

log = logging.getLogger(__name__)

Message = dict[str, str]
"""One AMI message: header name to value, in arrival order.

A header that repeats (``ChanVariable`` with ``channelvars``) keeps every
value, joined by ``"\\n"``; AMI values cannot contain a newline, so nothing
is lost. Use :func:`header_values` to split them again.
"""

BANNER_PREFIX = b"Asterisk Call Manager/"
_EOM = b"\r\n\r\n"
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20


def header_values(message: Mapping[str, str], name: str) -> list[str]:
    """Every value of a header that may repeat."""
    value = message.get(name)
    return [] if value is None else value.split("\n")


def chan_variables(message: Mapping[str, str]) -> dict[str, str]:
    """``ChanVariable: NAME=value`` headers (Asterisk 12+) as a dict."""
    out: dict[str, str] = {}
    for item in header_values(message, "ChanVariable"):
        name, sep, value = item.partition("=")
        if sep:
            out[name] = value
    return out


class AmiParser:
    """Splits an AMI byte stream into messages.

    ``wanted_events``: when given, events with other names are skipped unread.
    Responses and event-list items are never skipped by name unless listed.
    ``wanted_variables``: when given, ``VarSet`` events are kept only for these
    variable names (checked on the raw bytes).
    """

    def __init__(
        self,
        wanted_events: Iterable[str] | None = None,
        wanted_variables: Iterable[str] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._buffer = b""
        self._expect_banner = True
        self._max = max_message_bytes
        self._wanted: frozenset[bytes] | None = None
        if wanted_events is not None:
            self._wanted = frozenset(name.encode() for name in wanted_events)
        self._variables: frozenset[str] | None = None
        self._variable_bytes: frozenset[bytes] | None = None
        if wanted_variables is not None:
            self._variables = frozenset(wanted_variables)
            self._variable_bytes = frozenset(name.encode() for name in self._variables)
        self.banner: str | None = None
        self.messages = 0
        self.skipped = 0
        self.errors = 0
        self.last_error: str | None = None

    def reset(self) -> None:
        """Forget a half-read message and expect a new banner (after a reconnect)."""
        self._buffer = b""
        self._expect_banner = True
        self.banner = None

    def feed(self, data: bytes) -> list[Message]:
        """Consume bytes; return every message they complete."""
        buffer = self._buffer + data if self._buffer else data
        if self._expect_banner:
            buffer = self._take_banner(buffer)
            if self._expect_banner:
                self._buffer = buffer
                return []
        blocks = buffer.split(_EOM)
        rest = blocks.pop()
        if len(rest) > self._max:
            self._error(f"message over {self._max} bytes without an end; dropped")
            rest = b""
        self._buffer = rest
        out: list[Message] = []
        wanted = self._wanted
        variables = self._variable_bytes
        filtering = wanted is not None or variables is not None
        for block in blocks:
            if len(block) > self._max:
                self._error(f"message of {len(block)} bytes is over {self._max}; dropped")
                continue
            if not filtering:
                self._parse_block(block, out)
                continue
            if not block.startswith(b"Event: ") or b"\r\nEvent: " in block:
                # A response, or damaged/glued messages: parse, then filter each.
                self._parse_block(block, out, filtered=True)
                continue
            end = block.find(b"\r\n")
            name = block[7:] if end < 0 else block[7:end]
            if wanted is not None and name not in wanted:
                self.skipped += 1
                continue
            if variables is not None and name == b"VarSet":
                start = block.find(b"\r\nVariable: ")
                if start < 0:
                    self.skipped += 1
                    continue
                start += 12
                stop = block.find(b"\r\n", start)
                if (block[start:] if stop < 0 else block[start:stop]) not in variables:
                    self.skipped += 1
                    continue
            self._parse_block(block, out)
        return out

    def feed_eof(self) -> None:
        """The stream ended: a half-received message is an error, not a message."""
        if self._buffer.strip():
            self._error(f"stream ended inside a message ({len(self._buffer)} bytes); dropped")
        self._buffer = b""

    def _take_banner(self, buffer: bytes) -> bytes:
        end = buffer.find(b"\r\n")
        if end < 0:
            if len(buffer) > 1024 or not BANNER_PREFIX.startswith(buffer[: len(BANNER_PREFIX)]):
                self._expect_banner = False  # no banner: a replay or a proxy; parse as messages
            return buffer
        self._expect_banner = False
        if buffer.startswith(BANNER_PREFIX):
            self.banner = buffer[:end].decode("utf-8", "replace")
            return buffer[end + 2 :]
        return buffer

    def _parse_block(self, block: bytes, out: list[Message], filtered: bool = False) -> None:
        text = block.decode("utf-8", "replace")
        parsed: list[Message] = []
        message: Message = {}
        bad = 0
        for line in text.split("\r\n"):
            name, sep, value = line.partition(": ")
            if not sep:
                if line.endswith(":") and ": " not in line and line[:-1].isprintable():
                    name, value = line[:-1], ""  # "PausedReason:" with nothing after it
                elif not line.strip():
                    continue
                else:
                    bad += 1
                    continue
            if (name == "Event" and ("Event" in message or "Response" in message)) or (
                name == "Response" and "Response" in message
            ):
                self._error(f"missing blank line after {_describe(message)}; split there")
                self._emit(message, parsed)
                message = {}
            elif name in message:
                message[name] = message[name] + "\n" + value
                continue
            message[name] = value
        if bad:
            self._error(f"{bad} malformed header line(s) skipped in {_describe(message)}")
        self._emit(message, parsed)
        if filtered:
            for item in parsed:
                if self._is_wanted(item):
                    out.append(item)
                else:
                    self.skipped += 1
                    self.messages -= 1
        else:
            out.extend(parsed)

    def _is_wanted(self, message: Message) -> bool:
        name = message.get("Event")
        if name is None:
            return True
        if self._wanted is not None and name.encode() not in self._wanted:
            return False
        if name == "VarSet" and self._variables is not None:
            return message.get("Variable") in self._variables
        return True

    def _emit(self, message: Message, out: list[Message]) -> None:
        if "Event" in message or "Response" in message:
            self.messages += 1
            out.append(message)
        elif message:
            self._error(f"message without Event or Response header dropped: {_describe(message)}")
        else:
            self._error("message with no readable header dropped")

    def _error(self, text: str) -> None:
        self.errors += 1
        self.last_error = text
        log.warning("ami parse error=%s count=%d", text, self.errors)


def _describe(message: Mapping[str, str]) -> str:
    for key in ("Event", "Response", "ActionID"):
        if key in message:
            return f"{key}={message[key][:60]!r}"
    return f"{len(message)} headers"


class ActionEncodingError(ValueError):
    """An action header name or value cannot be sent safely."""


def encode_action(headers: Iterable[tuple[str, str]]) -> bytes:
    """Serialise an action; refuse CR/LF anywhere (they would inject a second action)."""
    lines: list[str] = []
    for name, value in headers:
        token = name.replace("-", "").replace("_", "")
        if not token or not token.isascii() or not token.isalnum():
            raise ActionEncodingError(f"header name {name!r} is not a plain token")
        if "\r" in value or "\n" in value:
            raise ActionEncodingError(
                f"header {name} contains a CR or LF character; refused to prevent AMI injection"
            )
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")
