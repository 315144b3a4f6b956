from datetime import timedelta

import factory
from django.utils import timezone

from users.models import User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    timezone = "Europe/London"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified_email(self, create, extracted, **kwargs):
        if create:
            from allauth.account.models import EmailAddress

            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """A key row; tests that need the secret itself use `users.api_keys.create_api_key`."""

    class Meta:
        model = "users.ApiKey"

    user = factory.SubFactory(UserFactory)
    name = "script"
    prefix = factory.Sequence(lambda n: f"{n:012x}")
    secret_hash = factory.Sequence(lambda n: f"{n:064x}")


class ConnectionFactory(factory.django.DjangoModelFactory):
    """An active connection; `access_token` and `refresh_token` are stored encrypted, as in a connect."""

    class Meta:
        model = "integrations.Connection"

    user = factory.SubFactory(UserFactory)
    provider = "oura"
    external_user_id = factory.Sequence(lambda n: f"provider-user-{n}")
    scopes = ["daily"]
    access_token = "access-token"
    refresh_token = "refresh-token"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        access_token, refresh_token = kwargs.pop("access_token"), kwargs.pop("refresh_token")
        connection = model_class(*args, **kwargs)
        connection.access_token = access_token
        connection.refresh_token = refresh_token
        connection.token_expires_at = connection.token_expires_at or timezone.now() + timedelta(hours=1)
        connection.save()
        return connection


class SyncRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "integrations.SyncRun"

    connection = factory.SubFactory(ConnectionFactory)
    status = "succeeded"
    trigger = "manual"


class ImportJobFactory(factory.django.DjangoModelFactory):
    """A finished job whose file is not on disk (tests that run imports upload a real file)."""

    class Meta:
        model = "imports.ImportJob"

    user = factory.SubFactory(UserFactory)
    kind = "csv"
    status = "succeeded"
    source = "csv"
    file_path = factory.Sequence(lambda n: f"imports/missing/{n}.csv")
    original_name = "steps.csv"
    size_bytes = 100
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    progress = 100


class SavedMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "imports.SavedMapping"

    user = factory.SubFactory(UserFactory)
    name = "My steps file"
    header = ["date", "steps"]
    mapping = {"columns": {"date": "date", "steps": "steps"}}


class RecordFactory(factory.django.DjangoModelFactory):
    """One hour of steps ending now, from a synced wearable."""

    class Meta:
        model = "healthdata.Record"

    user = factory.SubFactory(UserFactory)
    metric = "steps"
    source = "fitbit"
    source_key = factory.Sequence(lambda n: f"steps-{n}")
    end = factory.LazyFunction(timezone.now)
    start = factory.LazyAttribute(lambda record: record.end - timedelta(hours=1))
    local_date = factory.LazyAttribute(lambda record: record.start.date())
    value = 1200
    quality = 80
    origin_kind = "sync"


class SleepSessionFactory(factory.django.DjangoModelFactory):
    """Eight hours of sleep ending now."""

    class Meta:
        model = "healthdata.Session"

    user = factory.SubFactory(UserFactory)
    kind = "sleep"
    source = "oura"
    source_key = factory.Sequence(lambda n: f"sleep-{n}")
    end = factory.LazyFunction(timezone.now)
    start = factory.LazyAttribute(lambda session: session.end - timedelta(hours=8))
    local_date = factory.LazyAttribute(lambda session: session.end.date())
    duration_minutes = 480
    quality = 80
    origin_kind = "sync"


class GoalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "healthdata.Goal"

    user = factory.SubFactory(UserFactory)
    metric = "steps"
    target = 8000
