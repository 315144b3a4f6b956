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
