"""What a person does in the browser, end to end against the live server.

Background work (imports, syncs, exports, erasure) is enqueued by the pages after commit; the
tests then call the function behind each task in-process, as a worker would.
"""

import csv
import io
import re
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model

from healthdata.models import DailyRollup, Goal, Record
from imports import services as import_services
from imports.models import ImportJob
from integrations import sync
from integrations.models import Connection, SyncRun
from tests.browser.conftest import screenshot
from tests.dashboards.data import seed
from tests.factories import UserFactory
from tests.users.test_erasure import rows_left_for
from users import erasure, export
from users.models import AuditEvent, DataExport

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-test-password"
EXPORT_SCRIPT = Path("/work/shared/bench/make_apple_health_export.py")


def sign_up(page, mailoutbox, email: str) -> None:
    page.goto("/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    # The mail links to the configured site address; the live server listens elsewhere.
    link = re.search(r"/accounts/confirm-email/\S+/", mailoutbox[-1].body).group(0)
    page.goto(link)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/")


def sign_in(page, user) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/")


def apple_health_export(folder: Path) -> Path:
    path = folder / "export.zip"
    # 500 records make one day of data: yesterday, as --end-date is exclusive.
    today = date.today().isoformat()
    command = [
        sys.executable,
        str(EXPORT_SCRIPT),
        "--records",
        "500",
        "--out",
        str(path),
        "--end-date",
        today,
    ]
    subprocess.run(command, check=True, capture_output=True)
    return path


def test_sign_up_import_an_apple_health_export_and_see_its_steps(page, mailoutbox, tmp_path):
    sign_up(page, mailoutbox, "new.person@example.com")
    assert page.get_by_role("link", name="Import a file").is_visible()
    screenshot(page, "overview-empty")

    page.goto("/imports/new/")
    page.set_input_files("input[name=file]", str(apple_health_export(tmp_path)))
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/imports/\d+/$"))
    job = ImportJob.objects.get(user__email="new.person@example.com")
    assert page.locator("#job-progress[hx-get]").count() == 1  # polling while the job is queued
    import_services.run_import(job.pk)
    page.locator("#job-progress .status-succeeded").wait_for()  # swapped in by the poll, no reload
    assert page.locator("#job-progress[hx-get]").count() == 0
    screenshot(page, "import-detail")

    user = job.user
    step_days = (
        DailyRollup.objects.for_user(user).filter(metric="steps").values("local_date").distinct().count()
    )
    assert step_days >= 1
    page.goto("/data/activity/?range=month")
    chart = page.locator('[data-chart="chart-steps-data"]')
    chart.locator("canvas").wait_for()
    assert int(chart.get_attribute("data-drawn")) == step_days
    assert not page.script_errors
    screenshot(page, "activity-month")
    page.goto("/")
    assert "Apple Health" in page.locator("main").inner_text()
    screenshot(page, "overview")
    for name, url in (("imports", "/imports/"), ("goals", "/goals/"), ("sources", "/sources/")):
        page.goto(url)
        screenshot(page, name)


def test_map_validate_and_import_a_csv_file(page, tmp_path):
    user = UserFactory(password=PASSWORD)
    days = [date.today() - timedelta(days=offset) for offset in (3, 2, 1)]
    csv_file = tmp_path / "scale.csv"
    csv_file.write_text(
        "Day,Body weight,Comment\n" + "".join(f"{day},{80 - i / 10},ok\n" for i, day in enumerate(days))
    )
    sign_in(page, user)

    page.goto("/imports/csv/")
    page.set_input_files("#csv-file", str(csv_file))
    page.get_by_role("button", name="Preview").click()
    page.locator("#csv-preview").wait_for()
    assert page.locator("#csv-timestamp").input_value() == "Day"
    page.get_by_label("Metric of column Body weight").select_option("weight")
    page.get_by_label("Unit of column Body weight").select_option("kg")
    page.get_by_role("button", name="Check the mapping").click()
    page.wait_for_selector("text=Ready to import: 3 weight.")
    page.get_by_label("Save this mapping for the next file like it, as").fill("My scale")
    page.get_by_role("button", name="Save the mapping").click()
    page.wait_for_selector("text=Saved as")
    screenshot(page, "csv-mapping")

    page.reload()  # the next file with these columns is offered the saved mapping
    page.set_input_files("#csv-file", str(csv_file))
    page.get_by_role("button", name="Preview").click()
    page.locator("#csv-saved-choice").wait_for()
    page.get_by_label("Use a saved mapping").select_option(label="My scale (made for this file's columns)")
    page.locator("#csv-mapping-fields").wait_for(state="hidden")
    page.get_by_role("button", name="Check the mapping").click()
    page.wait_for_selector("text=Ready to import: 3 weight.")
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url(re.compile(r"/imports/\d+/$"))

    import_services.run_import(ImportJob.objects.get(user=user).pk)
    page.locator("#job-progress .status-succeeded").wait_for()
    assert Record.objects.for_user(user).filter(metric="weight", source="csv").count() == 3
    assert not page.script_errors


def test_connect_sandbox_fitbit_sync_and_see_sleep(page, sandbox, settings):
    settings.SYNC_BACKFILL_DAYS = 7
    user = UserFactory(password=PASSWORD)
    sandbox.consent("fitbit", auto="approve", account="demo")
    sign_in(page, user)

    page.goto("/connections/connect/fitbit/")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/connections/**")
    connection = Connection.objects.get(user=user, provider="fitbit")
    run = sync.run(connection.pk)
    assert run.status == "succeeded", run.errors

    page.goto("/sources/")
    assert "Connected" in page.locator("main").inner_text()
    screenshot(page, "connections")
    page.get_by_role("button", name="Sync Fitbit (Google Health) now").click()
    page.wait_for_selector("text=Sync queued")
    page.goto(f"/connections/{connection.pk}/")
    screenshot(page, "connection-detail")
    page.goto("/data/sleep/?range=week")
    sleep = page.locator('[data-chart="chart-time_asleep-data"]')
    sleep.locator("canvas").wait_for()
    sleep_days = DailyRollup.objects.for_user(user).filter(metric="time_asleep", source="fitbit").count()
    assert sleep_days >= 5
    assert int(sleep.get_attribute("data-drawn")) == sleep_days
    page.locator('[data-compare="compare-data"] canvas').wait_for()
    assert "Fitbit" in page.locator("#compare-title + form + div + script + table").inner_text()
    assert not page.script_errors
    screenshot(page, "sleep-week")


def test_moving_a_source_up_changes_the_merged_value(page):
    user = UserFactory(password=PASSWORD)
    seed(user, days=2)
    sign_in(page, user)

    page.goto("/preferences/")
    today = page.locator("#category-activity tbody tr").last
    assert today.locator("[data-winner]").inner_text() == "Fitbit"
    assert today.locator("[data-merged-value]").inner_text() == "6,000"
    screenshot(page, "preferences")

    page.get_by_role("button", name="Move Apple Health up in activity").focus()
    page.keyboard.press("Enter")  # no drag and drop: the keyboard alone reorders
    page.wait_for_selector("text=Apple Health moved up")
    today = page.locator("#category-activity tbody tr").last
    assert today.locator("[data-winner]").inner_text() == "Apple Health"
    assert today.locator("[data-merged-value]").inner_text() == "8,400"


def test_export_then_delete_the_account_leaves_nothing(page, live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    user = UserFactory(password=PASSWORD)
    seed(user, days=2, sources=("fitbit",))
    Goal.objects.create(user=user, metric="steps", target=10_000)
    Connection.objects.create(user=user, provider="oura", status="revoked")
    upload = tmp_path / "imports" / str(user.pk) / "export.zip"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"PK")
    sign_in(page, user)

    page.goto("/account/")
    page.get_by_role("button", name="Export all my data").click()
    data_export = DataExport.objects.get(user=user)
    export.build(data_export.pk)
    link = page.get_by_role("link", name="download the zip")
    link.wait_for()  # the exports list refreshes itself while the export is built
    screenshot(page, "account")
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    archive = requests.get(live_server.url + link.get_attribute("href"), cookies=cookies, timeout=10)
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert "manifest.json" in opened.namelist()
        assert user.email in opened.read("users/profile.json").decode()
        records = list(csv.DictReader(io.TextIOWrapper(opened.open("healthdata/records.csv"), "utf-8")))
        assert '"metric": "steps"' in opened.read("healthdata/goals.json").decode()
        assert '"provider": "oura"' in opened.read("integrations/connections.json").decode()
    steps = [row for row in records if row["metric"] == "steps"]
    assert len(steps) == Record.objects.for_user(user).filter(metric="steps").count() == 24
    assert {row["source"] for row in steps} == {"fitbit"}

    page.goto("/account/delete")
    screenshot(page, "delete-account")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Delete my account and all my data").click()
    page.wait_for_url("**/")
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").is_visible()
    erasure.erase_account(user.pk)

    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert rows_left_for(user.pk) == {}
    assert not Record.objects.filter(user_id=user.pk).exists()
    assert not SyncRun.objects.filter(connection__user_id=user.pk).exists()
    assert not (tmp_path / "imports" / str(user.pk)).exists()
    assert not (tmp_path / "exports" / str(user.pk)).exists()
    assert AuditEvent.objects.filter(user_ref=user.pk, action="account.deleted").exists()
