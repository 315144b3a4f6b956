"""Provider terms: how long each provider's data may be kept (PROVIDER_RETENTION_DAYS)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from healthdata.models import Record, Session
from integrations import registry
from integrations.connections import delete_source_data


def retention_days(slug: str) -> int | None:
    """Days of data kept for a provider; None keeps everything."""
    configured = settings.PROVIDER_RETENTION_DAYS
    if slug in configured:
        return configured[slug]
    source = registry.get_source(slug)
    return source.retention_days if source else None


def enforce() -> dict[str, int]:
    """Delete data older than its provider's retention, user by user; rows deleted per provider."""
    deleted: dict[str, int] = {}
    for slug in registry.sources():
        days = retention_days(slug)
        if days is None:
            continue
        cutoff = timezone.now() - timedelta(days=days)
        deleted[slug] = sum(
            delete_source_data(user=user, source=slug, before=cutoff)
            for user in _users_with_data(slug, cutoff)
        )
    return deleted


def _users_with_data(slug: str, cutoff) -> list:
    user_ids = set(Record.objects.filter(source=slug, start__lt=cutoff).values_list("user_id", flat=True))
    user_ids |= set(Session.objects.filter(source=slug, start__lt=cutoff).values_list("user_id", flat=True))
    return list(get_user_model().objects.filter(pk__in=user_ids))
