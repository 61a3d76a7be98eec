"""The hub's IVR scripts, answered over FastAGI.

``contract``: sets ``CTIHUB_CONTRACT`` to the caller's support-contract state
(``active``, ``expiring``, ``expired``, ``none`` or ``unknown``); for an
expired contract it plays the "cannot be served" prompt, and the dialplan
(``ctihub/examples/extensions_ctihub.conf``) hangs up or sends the caller to the
renewal queue instead. It also routes callers to their own people:
``CTIHUB_CUSTOMER`` (the CRM's customer id), ``CTIHUB_OWNER`` (the customer's
own agent, whom the dialplan rings first when free) and ``CTIHUB_PRIORITY``
(the ``QUEUE_PRIO`` a VIP customer gets; 0 for everyone else).

``tracking``: asks for a case tracking code (``GET DATA`` ends on ``#`` or on
the code's last digit), rejects a mistyped one by its check digit before any
lookup, asks again up to ``attempts`` times after a wrong or unknown code,
and sets ``CTIHUB_CASE``, ``CTIHUB_CASE_STATUS`` and ``CTIHUB_CASE_OWNER``
(the owner's extension) so the dialplan can route the caller to the owner,
then reads the code back.

Both fail open: when the CRM does not answer within ``lookup_timeout`` the
caller is treated as served (``unknown``) and queued, never left on a dead
line because the hub is slow.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from pbx_adapters.fastagi import AgiSession, Script

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallerProfile:
    """What the IVR learns about a caller: the contract, and whom the call belongs to."""

    contract: str
    """``active``, ``expiring``, ``expired`` or ``none``."""
    customer: str | None = None
    owner_extension: str | None = None
    vip: bool = False


@dataclass(frozen=True, slots=True)
class CaseStatus:
    """What the IVR may tell a caller about a case."""

    code: str
    status: str
    owner_extension: str | None


class IvrDirectory(Protocol):
    """What the IVR needs from the CRM."""

    def is_well_formed(self, code: str) -> bool:
        """Length and check digit; no lookup."""

    async def caller_profile(self, caller: str) -> CallerProfile:
        """The best-matching customer's contract, id, owner and VIP flag."""

    async def case_by_code(self, code: str) -> CaseStatus | None: ...


@dataclass(frozen=True, slots=True)
class IvrPrompts:
    contract_expired: str = "ss-noservice"
    enter_code: str = "beep"
    invalid_code: str = "invalid"
    unknown_code: str = "invalid"


class IvrScripts:
    """The FastAGI scripts, keyed by the name the dialplan uses."""

    def __init__(
        self,
        directory: IvrDirectory,
        prompts: IvrPrompts | None = None,
        lookup_timeout: float = 1.0,
        code_length: int = 8,
        attempts: int = 3,
        vip_priority: int = 10,
    ) -> None:
        self._directory = directory
        self._prompts = prompts or IvrPrompts()
        self._timeout = lookup_timeout
        self._code_length = code_length
        self._attempts = attempts
        self._vip_priority = vip_priority

    def scripts(self) -> dict[str, Script]:
        return {"contract": self.contract, "tracking": self.tracking}

    async def contract(self, agi: AgiSession) -> None:
        caller = agi.caller
        await agi.verbose(f"contract check for {caller}")
        try:
            async with asyncio.timeout(self._timeout):
                profile = await self._directory.caller_profile(caller)
        except TimeoutError:
            log.warning("ivr contract lookup timed out call=%s; failing open", agi.uniqueid)
            profile = CallerProfile("unknown")
        except Exception:
            log.exception("ivr contract lookup failed call=%s; failing open", agi.uniqueid)
            profile = CallerProfile("unknown")
        await agi.set_variable("CTIHUB_CONTRACT", profile.contract)
        if profile.contract == "expired":
            await agi.stream_file(self._prompts.contract_expired)
        # Unset means "nobody's in particular" to the dialplan: queue at priority 0.
        if profile.customer is not None:
            await agi.set_variable("CTIHUB_CUSTOMER", profile.customer)
        if profile.owner_extension:
            await agi.set_variable("CTIHUB_OWNER", profile.owner_extension)
        if profile.vip:
            await agi.set_variable("CTIHUB_PRIORITY", str(self._vip_priority))

    async def tracking(self, agi: AgiSession) -> None:
        prompt = self._prompts.enter_code
        attempts = 0
        stray_hash = False
        while attempts < self._attempts:
            code = await agi.get_data(prompt, 6000, self._code_length)
            if not code:
                if stray_hash:
                    # GET DATA ends by itself on a full-length code; the "#" callers are
                    # told to key after it is still waiting and ends this one at once.
                    stray_hash = False
                    continue
                if attempts == 0:
                    return  # nothing keyed: no code, on to the queue
                attempts += 1  # keyed nothing after a wrong code: that try is used up
                continue
            attempts += 1
            stray_hash = len(code) >= self._code_length
            if not self._directory.is_well_formed(code):
                prompt = self._prompts.invalid_code
                continue
            try:
                async with asyncio.timeout(self._timeout):
                    case = await self._directory.case_by_code(code)
            except TimeoutError:
                log.warning("ivr case lookup timed out call=%s; failing open", agi.uniqueid)
                return
            if case is None:
                prompt = self._prompts.unknown_code
                continue
            await agi.set_variable("CTIHUB_CASE", case.code)
            await agi.set_variable("CTIHUB_CASE_STATUS", case.status)
            if case.owner_extension:
                await agi.set_variable("CTIHUB_CASE_OWNER", case.owner_extension)
            await agi.say_digits(case.code)
            return
