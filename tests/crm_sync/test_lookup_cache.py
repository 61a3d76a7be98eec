"""The lookup cache on its own: LRU, TTL, and which changes drop which entries."""

from __future__ import annotations

import datetime as dt

from crm_sync.db import Changes
from crm_sync.matching import CallerMatch, ContractInfo, CustomerMatch, LookupCache
from crm_sync.phones import NormalisedNumber


def _match(e164: str, *customer_ids: int) -> CallerMatch:
    customers = tuple(
        CustomerMatch(
            id=cid,
            name=f"c{cid}",
            kind="person",
            vip=False,
            language=None,
            email=None,
            address=None,
            owner_extension=None,
            last_activity_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            matched_by="exact",
            phones=(),
            contract=ContractInfo("none"),
            open_cases=(),
            recent_calls=(),
        )
        for cid in customer_ids
    )
    number = NormalisedNumber(e164, "e164", e164=e164)
    return CallerMatch("matched" if customers else "unknown", number, customers)


def test_least_recently_used_entry_goes_first_when_full() -> None:
    cache = LookupCache(size=2, ttl=60, suffix_digits=8)
    cache.put("+989121111111", _match("+989121111111", 1), now=0, generation=0)
    cache.put("+989122222222", _match("+989122222222", 2), now=0, generation=0)
    assert cache.get("+989121111111", now=1) is not None  # now the most recent
    cache.put("+989123333333", _match("+989123333333", 3), now=2, generation=0)
    assert cache.get("+989122222222", now=3) is None
    assert cache.get("+989121111111", now=3) is not None
    assert len(cache) == 2


def test_entries_older_than_the_ttl_are_not_served() -> None:
    cache = LookupCache(size=10, ttl=60, suffix_digits=8)
    cache.put("+989121111111", _match("+989121111111", 1), now=100, generation=0)
    assert cache.get("+989121111111", now=160) is not None
    assert cache.get("+989121111111", now=160.5) is None


def test_a_customer_change_drops_every_number_that_showed_that_customer() -> None:
    cache = LookupCache(size=10, ttl=60, suffix_digits=8)
    cache.put("+982188776655", _match("+982188776655", 1, 2), now=0, generation=0)
    cache.put("+989121111111", _match("+989121111111", 2), now=0, generation=0)
    cache.put("+989351112233", _match("+989351112233", 3), now=0, generation=0)
    cache.invalidate(Changes(customer_ids=frozenset({2})))
    assert cache.get("+982188776655", now=1) is None
    assert cache.get("+989121111111", now=1) is None
    assert cache.get("+989351112233", now=1) is not None


def test_a_new_number_drops_unknown_results_sharing_its_last_digits() -> None:
    cache = LookupCache(size=10, ttl=60, suffix_digits=8)
    cache.put("+9888776655", _match("+9888776655"), now=0, generation=0)  # unknown so far
    cache.put("+989121111111", _match("+989121111111"), now=0, generation=0)
    cache.invalidate(Changes(numbers=frozenset({"+982188776655"})))
    assert cache.get("+9888776655", now=1) is None
    assert cache.get("+989121111111", now=1) is not None


def test_a_lookup_that_raced_an_invalidation_is_not_stored() -> None:
    cache = LookupCache(size=10, ttl=60, suffix_digits=8)
    generation = cache.generation  # a lookup starts reading here...
    cache.invalidate(Changes(customer_ids=frozenset({1})))  # ...a commit lands meanwhile
    cache.put("+989121111111", _match("+989121111111", 1), now=0, generation=generation)
    assert cache.get("+989121111111", now=0) is None
