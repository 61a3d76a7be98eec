"""Creating and changing customers and their numbers (the panel's "create customer")."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from crm_sync.db import Database
from crm_sync.models import CUSTOMER_KINDS, PHONE_KINDS, Customer, PhoneNumber
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
    ) -> Customer:
        """A new customer; ``phones`` are ``(number as entered, kind)`` pairs."""
        if not name.strip():
            raise CustomerError("a customer needs a name")
        if kind not in CUSTOMER_KINDS:
            raise CustomerError(f"kind must be one of {', '.join(CUSTOMER_KINDS)}, got {kind!r}")
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
        unknown = set(fields) - allowed
        if unknown:
            raise CustomerError(f"cannot change {', '.join(sorted(unknown))} with update()")
        async with self._db.sessions() as session:
            customer = await session.scalar(select(Customer).where(Customer.id == customer_id))
            if customer is None:
                raise CustomerError(f"no customer with id {customer_id}")
            for key, value in fields.items():
                setattr(customer, key, value)
            await session.commit()
            return customer
