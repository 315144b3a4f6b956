"""Delete an account and everything it owns, app by app, through hooks on each `AppConfig`.

Protocol (each method optional):

    def before_erase_user(self, user: User) -> None:
        '''Undo what lives outside our database: revoke provider tokens, cancel remote webhooks.'''

    def erase_user_data(self, user: User) -> None:
        '''Delete this app's rows and files for `user`; runs in one transaction with the others.'''

Apps are visited from the last installed to the first, so an app's hook runs before the hooks
of the apps it builds on. The user row goes last; the audit log keeps one anonymised row.
"""

from typing import Protocol

from allauth.usersessions.models import UserSession
from django.apps import AppConfig, apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import HttpRequest

from users import audit
from users.export import delete_export_files
from users.models import AuditEvent, User


class ErasesUserData(Protocol):
    """What an AppConfig provides to take part in account deletion."""

    label: str

    def before_erase_user(self, user: User) -> None: ...

    def erase_user_data(self, user: User) -> None: ...


def _hooks(name: str) -> list[AppConfig]:
    configs = reversed(list(apps.get_app_configs()))
    return [config for config in configs if callable(getattr(config, name, None))]


def request_account_deletion(*, user: User, request: HttpRequest | None = None) -> None:
    """Lock the account and sign it out everywhere now; the data is erased in the background."""
    from users.tasks import erase_account_task  # tasks import this module

    User.objects.filter(pk=user.pk).update(is_active=False)
    audit.record(actor=user, user=user, action="account.deletion_requested", ip=audit.client_ip(request))
    end_sessions(user)
    erase_account_task.delay_on_commit(user.pk)


def end_sessions(user: User) -> None:
    for session in UserSession.objects.filter(user=user):
        session.end()


def erase_account(user_id: int, *, actor: User | None = None) -> bool:
    """Erase the user and all their data; False when the user is already gone. Safe to repeat."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return False
    for config in _hooks("before_erase_user"):
        config.before_erase_user(user)
    with transaction.atomic():
        for config in _hooks("erase_user_data"):
            config.erase_user_data(user)
        end_sessions(user)
        user.delete()
        AuditEvent.objects.create(action="account.deleted", actor=actor, user_ref=user_id)
    return True


def erase_own_data(user: User) -> None:
    """The users app's part: its audit trail, admin history about the user and export files."""
    AuditEvent.objects.for_user(user).delete()
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk)
    ).delete()
    delete_export_files(user.pk)
