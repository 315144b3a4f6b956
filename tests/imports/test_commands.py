from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from healthdata.models import Record
from imports.models import ImportJob

FIXTURES = Path(__file__).parents[1] / "fixtures" / "imports"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.django_db(transaction=True)
def test_import_file_runs_the_job_and_prints_progress(user):
    out = StringIO()

    call_command(
        "import_file", str(FIXTURES / "apple_export_small.xml"), "--user", user.email.upper(), stdout=out
    )

    job = ImportJob.objects.get(user=user)
    assert job.status == "succeeded"
    assert f"Import #{job.pk} succeeded" in out.getvalue()
    assert "steps" in out.getvalue()
    assert Record.objects.filter(user=user, source="apple_health").exists()


@pytest.mark.django_db(transaction=True)
def test_import_file_with_a_preset_and_a_failing_file_reports_the_reason(user, tmp_path):
    bad = tmp_path / "servings.csv"
    bad.write_text("Day,Food Name,Amount,Energy (kcal)\nlater,Oats,40 g,152\n")

    with pytest.raises(CommandError) as error:
        call_command(
            "import_file",
            str(bad),
            "--user",
            user.email,
            "--preset",
            "cronometer_servings",
            stdout=StringIO(),
        )

    assert "failed" in str(error.value)
    assert ImportJob.objects.get(user=user).error_code == "no_valid_rows"


def test_import_file_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user"):
        call_command("import_file", str(FIXTURES / "apple_export_small.xml"), "--user", "nobody@example.com")
