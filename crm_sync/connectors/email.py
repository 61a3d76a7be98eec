"""E-mail over SMTP (aiosmtplib): plain text messages to a fixed list of recipients.

The connection is opened per message: alerts are rare (batched, see
``cti.alerts.AlertBatcher``) and a long-lived SMTP session would time out
between them. Errors raise :class:`EmailError` with the server's reason and
never the password.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

import aiosmtplib

log = logging.getLogger(__name__)

SmtpSecurity = Literal["none", "starttls", "tls"]


class EmailError(Exception):
    """The message could not be handed to the SMTP server; says why."""


class EmailSender:
    """Sends plain-text mail through one SMTP server."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: list[str],
        *,
        security: SmtpSecurity = "none",
        username: str = "",
        password: str = "",
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self._security = security
        self._username = username
        self._password = password
        self._timeout = timeout

    async def send(self, subject: str, body: str) -> None:
        """Send one message to every recipient; raises :class:`EmailError`."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self._username or None,
                password=self._password or None,
                use_tls=self._security == "tls",
                start_tls=self._security == "starttls",
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise EmailError(
                f"SMTP {self.host}:{self.port} did not take the message: {type(exc).__name__}: "
                f"{exc}"
            ) from exc
        log.info("mail sent subject=%r recipients=%d", subject, len(self.recipients))
