"""This app's part of a user's data export and account erasure (hooks called by `users`)."""

from integrations.connections import disconnect
from integrations.models import Connection, SyncRun

# Everything a person may want to know about their connections; the token columns are not listed.
CONNECTION_FIELDS = (
    "provider",
    "status",
    "scopes",
    "external_user_id",
    "backfill_days",
    "last_success_at",
    "last_error",
    "last_error_at",
    "created",
    "updated",
)
SYNC_RUN_FIELDS = (
    "connection__provider",
    "status",
    "trigger",
    "started_at",
    "finished_at",
    "created_count",
    "updated_count",
    "unchanged_count",
    "requests_made",
    "counts",
    "errors",
)


def export_user_data(user, archive) -> None:
    """Connections without their tokens, and the sync runs made for them."""
    connections = Connection.objects.for_user(user).order_by("provider").values(*CONNECTION_FIELDS)
    archive.write_json("connections.json", list(connections))
    runs = SyncRun.objects.filter(connection__user=user).order_by("started_at", "pk")
    header = ("provider", *SYNC_RUN_FIELDS[1:])
    archive.write_csv("sync_runs.csv", header, runs.values_list(*SYNC_RUN_FIELDS).iterator(chunk_size=1_000))


def revoke_all(user) -> None:
    """Withdraw at its provider every grant the user gave us and forget the tokens, before any row goes."""
    for connection in Connection.objects.for_user(user).exclude(status=Connection.Status.REVOKED):
        disconnect(connection, delete_data=False)
