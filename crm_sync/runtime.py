"""The CRM side as the daemon runs it, built from its settings in one call.

``ctihub/daemon.py`` calls :func:`open_crm`, hands
``crm.caller_lookup`` to the screen pop, runs ``crm.call_log.consume(sub)``
on a bus subscription, and awaits :meth:`CrmRuntime.close` on shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crm_sync.call_lists import CallListService
from crm_sync.call_log import CallLogWriter
from crm_sync.callbacks import CallbackService
from crm_sync.cases import CaseService
from crm_sync.connectors.base import CrmConnector
from crm_sync.connectors.http import HttpConnector
from crm_sync.customers import CustomerService
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.migrations import upgrade
from crm_sync.phones import PhoneNormaliser
from crm_sync.screenpop_lookup import CrmCallerLookup
from crm_sync.settings import CallbacksConfig, CrmConfig, DatabaseConfig


@dataclass(slots=True)
class CrmRuntime:
    """The running CRM side: what other parts of the hub are handed."""

    database: Database
    normaliser: PhoneNormaliser
    directory: CallerDirectory
    customers: CustomerService
    cases: CaseService
    call_log: CallLogWriter
    caller_lookup: CrmCallerLookup
    connector: CrmConnector | None
    callbacks: CallbackService
    call_lists: CallListService

    async def close(self) -> None:
        """Stop the call-log replay, finish webhooks, close connections."""
        await self.call_log.stop()
        await self.cases.close()
        if self.connector is not None:
            await self.connector.close()
        await self.directory.close()
        await self.database.dispose()


async def open_crm(
    database_config: DatabaseConfig,
    crm: CrmConfig,
    normaliser: PhoneNormaliser,
    migrate: bool = True,
    callbacks: CallbacksConfig | None = None,
) -> CrmRuntime:
    """Migrate (unless told not to), connect, and start replaying any spooled call records."""
    if migrate:
        await upgrade(database_config.url)
    database = Database(database_config)
    http = crm.http
    connector: CrmConnector | None = None
    if http.lookup_url or http.webhook_url:
        connector = HttpConnector(http, normaliser, Path(crm.spool_dir))
    directory = CallerDirectory.for_database(database, normaliser, crm)
    cases = CaseService(database, crm, connector)
    call_log = CallLogWriter(database, directory, crm, connector=connector)
    await call_log.start()
    callback_service = CallbackService(database, directory, callbacks or CallbacksConfig())
    return CrmRuntime(
        database=database,
        normaliser=normaliser,
        directory=directory,
        customers=CustomerService(database, normaliser),
        cases=cases,
        call_log=call_log,
        caller_lookup=CrmCallerLookup(directory, cases, database, connector),
        connector=connector,
        callbacks=callback_service,
        call_lists=CallListService(database, directory, callback_service),
    )
