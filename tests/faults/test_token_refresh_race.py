"""Eight syncs of one connection at once, its access token expired and its refresh token rotating.

Leases that have run out as soon as they are taken let all eight run together, as when runs
outlive their lease. The closest
open peer revoked healthy connections this way: every worker refreshed, the provider honoured the
first rotation only, and the rest got invalid_grant. The thread version on the scripted provider is
tests/integrations/test_tokens.py; here whole syncs run against the Oura sandbox over HTTP.
"""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from healthdata.models import Record, Session
from integrations import sync
from integrations.models import Connection, SyncRun
from tests.integrations.test_contract import connect, queued  # noqa: F401

pytestmark = pytest.mark.skipif(
    db_connection.vendor != "postgresql",
    reason="eight concurrent writers: the in-memory SQLite test database fails them (table locked)",
)

PROVIDER = "oura"  # rotates its refresh token on every refresh
SYNCS = 8


def stored(connection: Connection) -> int:
    user = connection.user
    return (
        Record.objects.for_user(user).filter(source=PROVIDER).count()
        + Session.objects.for_user(user).filter(source=PROVIDER).count()
    )


def run_at_once(connection_id: int, count: int) -> list:
    barrier = threading.Barrier(count)
    outcomes: list = []

    def one_sync() -> None:
        try:
            barrier.wait()
            outcomes.append(sync.run(connection_id, trigger="manual"))
        except Exception as error:  # reported by the assertions, with its type
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one_sync) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def test_eight_concurrent_syncs_on_an_expired_rotating_token_refresh_it_once_and_stay_connected(
    transactional_db,
    connect,  # noqa: F811
    sandbox,
    settings,
):
    settings.SYNC_BACKFILL_DAYS = 7
    # Run out when taken: with zero seconds, a claim computing its clock just before another's
    # commit still found that lease held, and sometimes only one of the eight ran.
    settings.SYNC_LEASE_SECONDS = -1
    connection = connect(PROVIDER)
    sandbox.fault(PROVIDER, "expire_access_tokens")
    Connection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now() - timedelta(minutes=1))
    refresh_before = Connection.objects.get(pk=connection.pk).refresh_token
    token_calls = sandbox.count(PROVIDER, "token")
    mail.outbox.clear()

    outcomes = run_at_once(connection.pk, SYNCS)

    runs = [outcome for outcome in outcomes if isinstance(outcome, SyncRun)]
    skipped = [outcome for outcome in outcomes if outcome is None]  # claimed in the same instant
    assert len(runs) + len(skipped) == SYNCS and len(runs) >= 2, outcomes
    assert sandbox.count(PROVIDER, "token") - token_calls == 1
    after = Connection.objects.get(pk=connection.pk)
    assert after.status == Connection.Status.ACTIVE and after.last_error == ""
    assert after.refresh_token != refresh_before  # the rotated token was kept
    assert mail.outbox == []  # nobody was asked to reconnect
    statuses = SyncRun.objects.filter(connection=connection).values_list("status", flat=True)
    assert list(statuses) == [SyncRun.Status.SUCCEEDED] * len(runs), [run.errors for run in runs]
    total = stored(connection)
    Connection.objects.filter(pk=connection.pk).update(cursors={})
    assert sync.run(connection.pk).created_count == 0 and stored(connection) == total
