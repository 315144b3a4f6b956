"""Emails that tell a user something needs them, sent at most once a day per problem."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from users.models import SentNotice, User

logger = logging.getLogger(__name__)

# What each connection problem means to the user; any other problem gets the generic sentence.
CONNECTION_PROBLEMS = {
    "needs_reauth": "needs you to sign in to it again before we can fetch new data",
    "stale": "has not sent new data for several days",
    "error": "keeps failing when we fetch your data",
}


def notify_connection_problem(user: User, provider_name: str, problem: str, fix_url: str) -> bool:
    """Email `user` that a connection needs them; False if this problem was already mailed today."""
    key = f"connection:{provider_name}:{problem}"[:200]
    if not _claim_notice(user, key):
        return False
    context = {
        "user": user,
        "provider_name": provider_name,
        "explanation": CONNECTION_PROBLEMS.get(problem, "has a problem we cannot fix without you"),
        "fix_url": fix_url,
    }
    subject = f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Your {provider_name} connection needs you"
    try:
        send_mail(
            subject,
            render_to_string("users/email/connection_problem.txt", context),
            None,
            [user.email],
            html_message=render_to_string("users/email/connection_problem.html", context),
        )
    except Exception:
        logger.exception("Connection problem email for user %s failed", user.pk)
        SentNotice.objects.filter(user=user, key=key, day=timezone.now().date()).delete()
        return False
    return True


def _claim_notice(user: User, key: str) -> bool:
    try:
        with transaction.atomic():
            SentNotice.objects.create(user=user, key=key, day=timezone.now().date())
    except IntegrityError:
        return False
    return True
