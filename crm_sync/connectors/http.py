"""The generic HTTP connector: lookups through a URL template, pushes as signed webhooks."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from crm_sync.connectors.base import ConnectorError, ExternalContact
from crm_sync.connectors.webhooks import WebhookSender
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmHttpConfig
from crm_sync.spool import JsonlSpool

log = logging.getLogger(__name__)


def dotted(data: Any, path: str) -> Any:
    """``data["a"]["b"][0]`` for ``"a.b.0"``; None where the path does not lead anywhere."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


class HttpConnector:
    """An external CRM reached over HTTP, configured by ``[crm.http]``."""

    def __init__(
        self,
        config: CrmHttpConfig,
        normaliser: PhoneNormaliser,
        spool_dir: str | Path,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._config = config
        self._normaliser = normaliser
        self._session = session
        self._own_session = session is None
        self.webhooks: WebhookSender | None = None
        if config.webhook_url:
            self.webhooks = WebhookSender(
                config.webhook_url,
                config.webhook_secret.get_secret_value(),
                JsonlSpool(Path(spool_dir) / "webhooks.dead.jsonl"),
                session=session,
                timeout=config.timeout,
                max_attempts=config.max_attempts,
                base_delay=config.retry_base_delay,
                max_delay=config.retry_max_delay,
                headers=config.headers,
            )

    async def lookup(self, e164: str) -> list[ExternalContact]:
        """Contacts the external CRM returns for ``e164`` (empty on 404 or no lookup URL)."""
        if not self._config.lookup_url:
            return []
        url = self._config.lookup_url.format(
            e164=quote(e164),
            digits=e164.lstrip("+"),
            national=quote(self._normaliser.national(e164)),
        )
        timeout = aiohttp.ClientTimeout(total=self._config.timeout)
        try:
            async with self._client().get(
                url, headers=self._config.headers, timeout=timeout
            ) as response:
                if response.status == 404:
                    return []
                if response.status != 200:
                    raise ConnectorError(
                        f"CRM lookup answered HTTP {response.status}, expected 200"
                    )
                body = await response.read()
        except TimeoutError:
            raise ConnectorError(f"CRM lookup timed out after {self._config.timeout} s") from None
        except aiohttp.ClientError as exc:
            raise ConnectorError(f"CRM lookup failed: {type(exc).__name__}: {exc}") from None
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConnectorError(f"CRM lookup returned malformed JSON: {exc}") from None
        items = dotted(data, self._config.results_path)
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise ConnectorError(
                f"CRM lookup: expected a list at {self._config.results_path or 'the top'}, "
                f"got {type(items).__name__}"
            )
        return [self._contact(item) for item in items if isinstance(item, dict)]

    async def push_call(self, record: dict[str, Any]) -> bool:
        """POST a call record as the ``call.ended`` webhook."""
        if self.webhooks is None:
            return True
        return await self.webhooks.send("call.ended", record, delivery_id=record.get("call_id"))

    async def push_case(self, case: dict[str, Any]) -> bool:
        """POST a case change as the ``case.updated`` webhook."""
        if self.webhooks is None:
            return True
        return await self.webhooks.send("case.updated", case)

    async def close(self) -> None:
        """Close what this connector opened."""
        if self.webhooks is not None:
            await self.webhooks.close()
        if self._session is not None and self._own_session:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _contact(self, item: dict[str, Any]) -> ExternalContact:
        fields = {name: dotted(item, path) for name, path in self._config.field_map.items()}
        external_id = fields.get("external_id")
        return ExternalContact(
            external_id=None if external_id is None else str(external_id),
            name=_text(fields.get("name")),
            email=_text(fields.get("email")),
            fields=fields,
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
