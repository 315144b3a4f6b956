"""Each page runs the same number of queries whatever the amount of data (budgets: docs/dashboards.md)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from healthdata.models import Goal, Record
from tests.dashboards.data import seed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# page -> its query budget, session and user included (two goals on the goals page)
PAGES = {
    "/": 5,
    "/data/activity/?range=day": 8,
    "/data/activity/?range=week": 7,
    "/data/activity/?range=month": 7,
    "/data/activity/?range=year": 7,
    "/data/heart/?range=month&compare=resting_heart_rate": 7,
    "/preferences/": 7,
    "/goals/": 8,
    "/connections/": 9,
    "/imports/": 4,
    "/account/": 6,
}


def queries_of(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def signed_in_with_data(client, days: int):
    user = UserFactory()
    seed(user, days=days)
    for metric, target in (("steps", 10_000), ("weight", 80)):
        Goal.objects.create(user=user, metric=metric, target=target)
    client.force_login(user)
    return user


@pytest.mark.parametrize("url", list(PAGES))
def test_a_page_runs_as_many_queries_with_ten_times_the_data(client, url):
    small = signed_in_with_data(client, days=3)
    small_count = queries_of(client, url)
    small_records = Record.objects.for_user(small).count()

    large = signed_in_with_data(client, days=30)
    large_count = queries_of(client, url)

    assert Record.objects.for_user(large).count() >= 10 * small_records
    assert large_count == small_count
    assert large_count <= PAGES[url]


def connection_with_runs(user, runs: int):
    from integrations.models import Connection, SyncRun

    connection = Connection.objects.create(user=user, provider="fitbit", status="active")
    SyncRun.objects.bulk_create(
        [SyncRun(connection=connection, status="succeeded", created_count=n) for n in range(runs)]
    )
    return connection


def job_with_rejections(user, rejected_rows: int):
    from imports.models import ImportJob

    rows = [{"line": n, "reason": "out_of_range", "raw": "x"} for n in range(rejected_rows)]
    return ImportJob.objects.create(
        user=user,
        kind="csv",
        status="succeeded",
        file_path="imports/x.csv",
        original_name="scale.csv",
        size_bytes=1,
        sha256="f" * 64,
        rejected={"out_of_range": rejected_rows},
        rejected_rows=rows,
    )


@pytest.mark.parametrize(
    ("make", "url", "budget"),
    [
        (connection_with_runs, "/connections/{pk}/", 5),
        (job_with_rejections, "/imports/{pk}/", 4),
    ],
)
def test_a_detail_page_runs_as_many_queries_with_ten_times_the_history(client, make, url, budget):
    counts = []
    for size in (5, 50):
        user = signed_in_with_data(client, days=3)
        item = make(user, size)
        counts.append(queries_of(client, url.format(pk=item.pk)))

    assert counts[0] == counts[1]
    assert counts[1] <= budget
