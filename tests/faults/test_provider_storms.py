"""A provider storms (429 with Retry-After, 500s, timeouts, then an outage): bounded retries, the
circuit opens and closes, and nothing is lost or doubled.

Each fault switch on its own, for every provider, is in tests/integrations/test_contract.py; here
they come together, against the Oura sandbox over loopback HTTP, and every request is counted.
"""

import contextlib
import time

from healthdata.models import Record, Session
from integrations import sync
from integrations.http import CircuitBreaker, CircuitOpen, TransientError
from integrations.models import Connection, SyncRun
from tests.integrations.test_contract import connect, queued  # noqa: F401

PROVIDER = "oura"


def stored(connection: Connection) -> int:
    user = connection.user
    return (
        Record.objects.for_user(user).filter(source=PROVIDER).count()
        + Session.objects.for_user(user).filter(source=PROVIDER).count()
    )


def reread_everything(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(cursors={})


def test_a_storm_within_the_retry_budget_costs_at_most_one_request_per_fault_and_loses_nothing(
    connect,  # noqa: F811
    sandbox,
    settings,
):
    settings.SYNC_BACKFILL_DAYS = 7
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 6
    settings.PROVIDER_HTTP_READ_TIMEOUT = 0.5
    connection = connect(PROVIDER)
    calm = sync.run(connection.pk)
    expected = stored(connection)
    reread_everything(connection)
    sandbox.fault(PROVIDER, "rate_limit", times=2, retry_after=1)
    sandbox.fault(PROVIDER, "server_error", times=1)
    sandbox.fault(PROVIDER, "slow", times=1, delay_seconds=1.0)
    before = sandbox.count(PROVIDER, "total")

    stormy = sync.run(connection.pk)

    assert stormy.status == SyncRun.Status.SUCCEEDED, stormy.errors
    made = sandbox.count(PROVIDER, "total") - before
    assert stormy.requests_made == made  # every attempt is counted on the run
    assert calm.requests_made < made <= calm.requests_made + 4  # at most one retry per fault
    assert stormy.created_count == 0 and stored(connection) == expected
    assert CircuitBreaker(PROVIDER).state() == "closed"


def test_an_outage_opens_the_circuit_which_stops_the_requests_then_closes_and_loses_nothing(
    connect,  # noqa: F811
    sandbox,
    settings,
):
    settings.SYNC_BACKFILL_DAYS = 7
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 10
    connection = connect(PROVIDER)
    reference = connect("whoop")  # another provider's sync is not affected by Oura's circuit
    sandbox.fault(PROVIDER, "server_error", times=None)
    before = sandbox.count(PROVIDER, "total")

    with contextlib.suppress(TransientError, CircuitOpen):
        sync.run(connection.pk)
    tried = sandbox.count(PROVIDER, "total") - before
    assert 0 < tried <= settings.PROVIDER_CIRCUIT_FAILURE_THRESHOLD  # not MAX_ATTEMPTS per request
    assert CircuitBreaker(PROVIDER).state() == "open"
    for _ in range(3):
        try:
            sync.run(connection.pk)
        except CircuitOpen as error:
            assert error.retry_after > 0  # the task retries after the cool-down, not at once
    assert sandbox.count(PROVIDER, "total") - before == tried  # an open circuit sends nothing
    assert sync.run(reference.pk).status == SyncRun.Status.SUCCEEDED
    failed = SyncRun.objects.filter(connection=connection)
    assert not failed.filter(status=SyncRun.Status.SUCCEEDED).exists()
    assert Connection.objects.get(pk=connection.pk).cursors == {}

    sandbox.clear_faults(PROVIDER)
    time.sleep(settings.PROVIDER_CIRCUIT_COOLDOWN_SECONDS + 0.05)
    recovered = sync.run(connection.pk)

    assert recovered.status == SyncRun.Status.SUCCEEDED, recovered.errors
    assert CircuitBreaker(PROVIDER).state() == "closed"
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ACTIVE
    total = stored(connection)
    reread_everything(connection)
    assert sync.run(connection.pk).created_count == 0 and stored(connection) == total  # nothing missed
