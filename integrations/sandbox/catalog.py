"""Items of a provider's data types for a time window, built day by day from the generator.

A provider module describes each data type as a function from one generated `Day` to its `Item`s;
every item has the instant the provider filters that type on (`key`). The same function serves the
endpoint and `expected_counts`, so what a test expects is what the endpoint pages through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from integrations.sandbox import generator, state
from integrations.sandbox.generator import Day

HISTORY_DAYS = 730  # every sandbox account has two years of history before today


@dataclass(frozen=True)
class Item:
    """One item of a data type. Dense series pass a function as `content`: walks and counts then need
    only the keys, and payloads are built for the page being served alone."""

    key: datetime  # the instant the provider's window filters on (aware)
    content: dict | Callable[[], dict]
    id: str = ""  # the document id, for single-document routes

    @property
    def payload(self) -> dict:
        return self.content() if callable(self.content) else self.content


Builder = Callable[[Day], list[Item]]


@lru_cache(maxsize=16384)
def _items_of(build: Builder, day: Day) -> tuple[Item, ...]:
    return tuple(build(day))


def history_start(provider: str, account: str) -> date:
    return generator.today(state.account_zone(provider, account)) - timedelta(days=HISTORY_DAYS)


def collect(provider: str, account: str, build: Builder, start: datetime, end: datetime) -> list[Item]:
    """Every item with `start <= key < end`, oldest first (a fresh list the caller may reorder)."""
    zone = state.account_zone(provider, account)
    return list(_collect(provider, account, build, start, end, generator.today(zone), zone.key))


@lru_cache(maxsize=64)
def _collect(
    provider: str, account: str, build: Builder, start: datetime, end: datetime, today: date, zone_name: str
) -> tuple[Item, ...]:
    """Pages of one query ask for the same window again and again: remember the last few."""
    zone = state.account_zone(provider, account)
    first = max(start.astimezone(zone).date() - timedelta(days=1), history_start(provider, account))
    last = end.astimezone(zone).date() + timedelta(days=1)
    found = [
        item
        for day in generator.days(provider, account, first, last)
        for item in _items_of(build, day)
        if start <= item.key < end
    ]
    return tuple(sorted(found, key=lambda item: item.key))


def newest_first(
    provider: str, account: str, build: Builder, start: datetime, end: datetime, limit: int
) -> list[Item]:
    """The newest `limit` items with `start <= key < end`, newest first, generating only the days needed.

    Without this, an unbounded newest-first list (Google without a filter) would build years of samples.
    """
    zone = state.account_zone(provider, account)
    floor = max(start.astimezone(zone).date() - timedelta(days=1), history_start(provider, account))
    on = end.astimezone(zone).date() + timedelta(days=1)
    found: list[Item] = []
    while on >= floor and len(found) < limit:
        if generator.has_data(on, zone):
            items = [
                item
                for item in _items_of(build, generator.day(provider, account, on, zone.key))
                if start <= item.key < end
            ]
            found += sorted(items, key=lambda item: item.key, reverse=True)
        on -= timedelta(days=1)
    return found[:limit]


def find(provider: str, account: str, build: Builder, item_id: str) -> Item | None:
    """The item with `item_id` anywhere in the account's history."""
    for item in every_item(provider, account, build):
        if item.id == item_id:
            return item
    return None


def every_item(provider: str, account: str, build: Builder) -> Iterator[Item]:
    zone = state.account_zone(provider, account)
    yesterday = generator.today(zone) - timedelta(days=1)
    for day in generator.days(provider, account, history_start(provider, account), yesterday):
        yield from _items_of(build, day)


def day_window(provider: str, account: str, first: date, last: date) -> tuple[datetime, datetime]:
    """[local midnight of `first`, local midnight after `last`) in the account's zone."""
    zone = state.account_zone(provider, account)
    return generator.local_midnight(first, zone), generator.local_midnight(last + timedelta(days=1), zone)


def count_items(
    provider: str, account: str, catalog: dict[str, Builder], first: date, last: date
) -> dict[str, int]:
    """How many items of each data type fall on the local days `first`..`last` (inclusive)."""
    start, end = day_window(provider, account, first, last)
    return {name: len(collect(provider, account, build, start, end)) for name, build in catalog.items()}
