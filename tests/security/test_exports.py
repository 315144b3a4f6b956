"""CSV files a person downloads never run as spreadsheet formulas, whatever text they carry."""

import csv
import io
import zipfile

import pytest

from tests.factories import ImportJobFactory, RecordFactory
from users import export

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def is_inert(cell: str) -> bool:
    return not cell or cell[0] not in "=+-@\t\r" or cell.lstrip("-").replace(".", "", 1).isdigit()


@pytest.mark.parametrize("formula", FORMULAS)
def test_text_that_reads_as_a_formula_is_escaped_in_the_data_export(user, settings, tmp_path, formula):
    settings.MEDIA_ROOT = tmp_path
    RecordFactory(user=user, source="csv", source_key=formula, device=formula)
    made = export.start_export(user=user)
    export.build(made.pk)
    made.refresh_from_db()

    with zipfile.ZipFile(export.export_file(made)) as archive:
        sheets = {name: archive.read(name).decode() for name in archive.namelist() if name.endswith(".csv")}

    assert sheets
    for name, text in sheets.items():
        assert all(is_inert(cell) for cell in cells(text)), (
            name,
            [c for c in cells(text) if not is_inert(c)],
        )
    assert any(f"'{formula}" in cells(text) for text in sheets.values())


@pytest.mark.parametrize("formula", FORMULAS)
def test_text_that_reads_as_a_formula_is_escaped_in_the_rejected_rows_download(
    user, user_api_client, formula
):
    job = ImportJobFactory(
        user=user, status="succeeded", rejected_rows=[{"line": 2, "reason": formula, "raw": formula}]
    )

    response = user_api_client.get(f"/api/v1/imports/{job.pk}/rejected-rows")

    assert response.status_code == 200
    body = response.content.decode()
    assert all(is_inert(cell) for cell in cells(body)), cells(body)
