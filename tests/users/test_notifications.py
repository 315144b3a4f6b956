from datetime import timedelta

from django.core import mail

from users.models import SentNotice
from users.notifications import notify_connection_problem

FIX_URL = "http://testserver/sources/oura/"


def test_user_is_emailed_how_to_fix_a_connection(user):
    sent = notify_connection_problem(user=user, provider_name="Oura", problem="needs_reauth", fix_url=FIX_URL)

    assert sent is True
    [message] = mail.outbox
    assert message.to == [user.email]
    assert "Oura" in message.subject
    assert "sign in to it again" in message.body
    assert FIX_URL in message.body
    assert f'href="{FIX_URL}"' in message.alternatives[0].content


def test_the_same_problem_is_mailed_at_most_once_a_day(user):
    for _ in range(3):
        notify_connection_problem(user=user, provider_name="Oura", problem="stale", fix_url=FIX_URL)

    assert len(mail.outbox) == 1


def test_different_problems_and_providers_are_mailed_separately(user, other_user):
    notify_connection_problem(user=user, provider_name="Oura", problem="stale", fix_url=FIX_URL)
    notify_connection_problem(user=user, provider_name="Oura", problem="error", fix_url=FIX_URL)
    notify_connection_problem(user=user, provider_name="Fitbit", problem="stale", fix_url=FIX_URL)
    notify_connection_problem(user=other_user, provider_name="Oura", problem="stale", fix_url=FIX_URL)

    assert len(mail.outbox) == 4


def test_the_problem_is_mailed_again_the_next_day(user):
    notify_connection_problem(user=user, provider_name="Oura", problem="stale", fix_url=FIX_URL)
    notice = SentNotice.objects.get(user=user)
    SentNotice.objects.filter(pk=notice.pk).update(day=notice.day - timedelta(days=1))

    assert notify_connection_problem(user=user, provider_name="Oura", problem="stale", fix_url=FIX_URL)
    assert len(mail.outbox) == 2


def test_a_failed_send_is_tried_again_on_the_next_call(user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 9  # discard port: nothing listens, the connection is refused
    settings.EMAIL_TIMEOUT = 1

    assert (
        notify_connection_problem(user=user, provider_name="Oura", problem="stale", fix_url=FIX_URL) is False
    )
    assert not SentNotice.objects.filter(user=user).exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert (
        notify_connection_problem(user=user, provider_name="Oura", problem="stale", fix_url=FIX_URL) is True
    )


def test_owners_of_failing_or_silent_connections_are_emailed_once_a_day(user, other_user, settings):
    from django.utils import timezone

    from integrations import attention
    from integrations.models import Connection

    settings.SITE_URL = "https://hfa.example"
    long_ago = timezone.now() - timedelta(days=5)
    failing = Connection.objects.create(user=user, provider="oura", status="error", last_error="Server down")
    Connection.objects.create(user=user, provider="whoop", status="active", last_success_at=long_ago)
    Connection.objects.create(user=user, provider="fitbit", status="active", last_success_at=timezone.now())
    Connection.objects.create(user=user, provider="withings", status="revoked")
    Connection.objects.create(
        user=other_user, provider="oura", status="needs_reauth"
    )  # mailed when it happened

    assert attention.notify_owners() == 2
    assert attention.notify_owners() == 0

    subjects = sorted(message.subject for message in mail.outbox)
    assert [subject.split("Your ")[1] for subject in subjects] == [
        "Oura connection needs you",
        "WHOOP connection needs you",
    ]
    oura = next(message for message in mail.outbox if "Oura" in message.subject)
    assert oura.to == [user.email]
    assert f"https://hfa.example/connections/{failing.pk}/" in oura.body
    assert "keeps failing" in oura.body


def test_a_deactivated_account_is_not_emailed_about_its_connections(user):
    from integrations import attention
    from integrations.models import Connection

    Connection.objects.create(user=user, provider="oura", status="error")
    user.is_active = False
    user.save()

    assert attention.notify_owners() == 0
    assert mail.outbox == []


def test_beat_emails_about_connections_hourly_with_a_registered_task(settings):
    from config.celery import app

    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["notify-connection-problems"]

    assert entry["schedule"] == 3600.0
    assert app.tasks[entry["task"]].queue == "default"
