"""Each user's order of sources per category, and the documented default order.

The default ranks sources by the kind of device their data usually comes from: watch, band, ring,
phone, scale, then manual entry and files. A stored order lists the user's sources first; any source
it leaves out follows in the default order, so a new source never disappears from resolution.
"""

import json

from django.db import connection

from healthdata.metrics import CATEGORIES, SOURCES
from preferences.models import SourcePreference

DEVICE_KIND_ORDER = ("watch", "band", "ring", "phone", "scale", "cuff", "meter", "manual", "file", "other")


class InvalidOrder(ValueError):
    """An order naming an unknown category or source, or naming a source twice."""


def default_order() -> list[str]:
    rank = {kind: position for position, kind in enumerate(DEVICE_KIND_ORDER)}
    return sorted(SOURCES, key=lambda source: (rank[SOURCES[source]], source))


def source_order(user, category: str) -> list[str]:
    """The user's sources for `category`, most preferred first, completed by the default order."""
    # Plain SQL: every aggregate request reads one order, and building the ORM query cost three times
    # what running it did.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT sources FROM {SourcePreference._meta.db_table} WHERE user_id = %s AND category = %s
            """,  # noqa: S608 # nosec B608 - the table name comes from the model, values are parameters
            [user.pk, category],
        )
        stored = cursor.fetchone()
    chosen = json.loads(stored[0]) if stored else []
    return [*chosen, *(source for source in default_order() if source not in chosen)]


def all_orders(user) -> dict[str, list[str]]:
    stored = dict(SourcePreference.objects.for_user(user).values_list("category", "sources"))
    defaults = default_order()
    return {
        category: [*stored.get(category, []), *(s for s in defaults if s not in stored.get(category, []))]
        for category in CATEGORIES
    }


def replace_order(user, category: str, sources: list[str]) -> SourcePreference:
    """Store the user's order for `category`; InvalidOrder (nothing written) if it names unknowns."""
    if category not in CATEGORIES:
        raise InvalidOrder(f"Unknown category {category!r}.")
    unknown = [source for source in sources if source not in SOURCES]
    if unknown:
        raise InvalidOrder(f"Unknown source(s): {', '.join(map(str, unknown))}.")
    if len(set(sources)) != len(sources):
        raise InvalidOrder("A source is listed twice.")
    preference, _ = SourcePreference.objects.update_or_create(
        user=user, category=category, defaults={"sources": list(sources)}
    )
    return preference
