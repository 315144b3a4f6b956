import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory

from tests.factories import PASSWORD
from users import audit
from users.models import AuditEvent


def test_sign_in_is_recorded_with_the_client_address(client, user):
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="auth.login")
    assert (event.user, event.actor, event.ip) == (user, user, "127.0.0.1")


def test_failed_sign_in_is_recorded_against_the_account_without_the_address_typed(client, user):
    client.post("/accounts/login/", {"login": user.email, "password": "wrong-password"})

    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.user == user
    assert event.actor is None
    assert user.email not in str(event.details)


def test_failed_sign_in_for_an_unknown_address_is_recorded_without_a_user(client, db):
    client.post("/accounts/login/", {"login": "nobody@example.com", "password": "wrong-password"})

    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.user is None
    assert "nobody" not in f"{event.target} {event.details}"


def test_record_keeps_who_whom_what_and_where(user, staff_user):
    event = audit.record(
        actor=staff_user,
        user=user,
        action="staff.viewed_records",
        target="records",
        ip="10.0.0.5",
        details={"metric": "steps"},
    )

    event.refresh_from_db()
    assert (event.actor, event.user, event.user_ref) == (staff_user, user, user.pk)
    assert (event.action, event.target, event.ip, event.details) == (
        "staff.viewed_records",
        "records",
        "10.0.0.5",
        {"metric": "steps"},
    )


def test_audit_events_cannot_be_changed_or_deleted(user):
    event = audit.record(actor=user, user=user, action="auth.login")

    event.action = "something.else"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "auth.login"


def test_admin_shows_the_audit_log_read_only(staff_user):
    request = RequestFactory().get("/admin/users/auditevent/")
    request.user = staff_user
    model_admin = site._registry[AuditEvent]

    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_admin_audit_list_renders(client, staff_user, user):
    audit.record(actor=user, user=user, action="auth.login", ip="127.0.0.1")
    client.force_login(staff_user)

    response = client.get("/admin/users/auditevent/")

    assert response.status_code == 200
    assert b"auth.login" in response.content


def test_connecting_and_disconnecting_a_source_are_recorded(user):
    from integrations.connections import connect, disconnect
    from integrations.providers.base import TokenSet

    connection = connect(user=user, provider="oura", tokens=TokenSet(access_token="a-secret-access-token"))
    connection.status = "revoked"  # already withdrawn at the provider: nothing to call there
    disconnect(connection, delete_data=True)

    events = AuditEvent.objects.for_user(user).order_by("pk")
    assert [(event.action, event.actor) for event in events] == [
        ("connection.connected", user),
        ("connection.disconnected", user),
    ]
    assert events[1].details == {"provider": "oura", "data_deleted": True, "revoked": False}
    assert "a-secret-access-token" not in str(list(events.values()))
