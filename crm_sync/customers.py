"""Creating and changing customers and their numbers (the panel's "create customer")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select

from crm_sync.db import Database
from crm_sync.models import CONTACT_CHANNELS, CUSTOMER_KINDS, PHONE_KINDS, Customer, PhoneNumber
from crm_sync.phones import PhoneNormaliser


class CustomerError(Exception):
    """A customer change was refused; the message says why."""


def phone_row(normaliser: PhoneNormaliser, raw: str, kind: str = "mobile") -> PhoneNumber:
    """A PhoneNumber with its E.164 and suffix-index forms filled in from ``raw``."""
    if kind not in PHONE_KINDS:
        raise CustomerError(f"phone kind must be one of {', '.join(PHONE_KINDS)}, got {kind!r}")
    normalised = normaliser.normalise(raw)
    return PhoneNumber(
        raw=raw.strip(),
        e164=normalised.e164,
        reversed_digits=normalised.reversed_digits,
        kind=kind,
    )


def _check_channel(channel: object) -> None:
    if channel is not None and channel not in CONTACT_CHANNELS:
        raise CustomerError(
            f"preferred_channel must be one of {', '.join(CONTACT_CHANNELS)}, got {channel!r}"
        )


class CustomerService:
    """Customer writes through the ORM, so cached caller lookups follow them at once."""

    def __init__(self, database: Database, normaliser: PhoneNormaliser) -> None:
        self._db = database
        self._normaliser = normaliser

    async def create(
        self,
        *,
        name: str,
        phones: Iterable[tuple[str, str]] = (),
        kind: str = "person",
        email: str | None = None,
        address: str | None = None,
        language: str | None = None,
        vip: bool = False,
        notes: str | None = None,
        owner_agent_id: int | None = None,
        ref: str | None = None,
        preferred_channel: str | None = None,
        call_from: dt.time | None = None,
        call_until: dt.time | None = None,
        do_not_call: bool = False,
    ) -> Customer:
        """A new customer; ``phones`` are ``(number as entered, kind)`` pairs."""
        if not name.strip():
            raise CustomerError("a customer needs a name")
        if kind not in CUSTOMER_KINDS:
            raise CustomerError(f"kind must be one of {', '.join(CUSTOMER_KINDS)}, got {kind!r}")
        _check_channel(preferred_channel)
        customer = Customer(
            name=name.strip(),
            kind=kind,
            email=email,
            address=address,
            language=language,
            vip=vip,
            notes=notes,
            owner_agent_id=owner_agent_id,
            ref=ref,
            preferred_channel=preferred_channel,
            call_from=call_from,
            call_until=call_until,
            do_not_call=do_not_call,
            phones=[phone_row(self._normaliser, raw, phone_kind) for raw, phone_kind in phones],
        )
        async with self._db.sessions() as session:
            session.add(customer)
            await session.commit()
        return customer

    async def add_phone(self, customer_id: int, raw: str, kind: str = "mobile") -> PhoneNumber:
        """Give a customer one more number."""
        async with self._db.sessions() as session:
            customer = await session.get(Customer, customer_id)
            if customer is None:
                raise CustomerError(f"no customer with id {customer_id}")
            phone = phone_row(self._normaliser, raw, kind)
            customer.phones.append(phone)
            await session.commit()
            return phone

    async def remove_phone(self, phone_id: int) -> None:
        """Delete one number."""
        async with self._db.sessions() as session:
            phone = await session.get(PhoneNumber, phone_id)
            if phone is None:
                raise CustomerError(f"no phone number with id {phone_id}")
            await session.delete(phone)
            await session.commit()

    async def update(self, customer_id: int, **fields: object) -> Customer:
        """Change plain fields of a customer (name, email, vip, …)."""
        allowed = {"name", "kind", "email", "address", "language", "vip", "notes", "owner_agent_id"}
        allowed |= {"preferred_channel", "call_from", "call_until", "do_not_call"}
        unknown = set(fields) - allowed
        if unknown:
            raise CustomerError(f"cannot change {', '.join(sorted(unknown))} with update()")
        if "preferred_channel" in fields:
            _check_channel(fields["preferred_channel"])
        if "name" in fields and not str(fields["name"] or "").strip():
            raise CustomerError("a customer needs a name")
        async with self._db.sessions() as session:
            customer = await session.scalar(select(Customer).where(Customer.id == customer_id))
            if customer is None:
                raise CustomerError(f"no customer with id {customer_id}")
            for key, value in fields.items():
                setattr(customer, key, value)
            await session.commit()
            return customer
