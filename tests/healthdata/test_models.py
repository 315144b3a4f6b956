from datetime import UTC, datetime

from healthdata.ingest import ingest
from healthdata.models import Record
from healthdata.normalized import Origin, RecordIn


def test_deleting_a_user_deletes_their_records(user, other_user):
    steps = RecordIn(metric="steps", start=datetime(2025, 1, 14, 8, tzinfo=UTC), value=10, unit="count")
    for person in (user, other_user):
        ingest(user=person, source="manual", records=[steps], origin=Origin(kind="manual"))

    user.delete()

    assert list(Record.objects.values_list("user_id", flat=True)) == [other_user.pk]
