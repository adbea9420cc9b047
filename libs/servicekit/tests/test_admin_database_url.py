"""`bootstrap` reads the administrator's database URL from a file (a mounted Secret) named by
ADMIN_DATABASE_URL_FILE, so the migration Job carries no password in its environment; the
plain variable stays for the local stack. Failures name the file, never its content."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicekit.cli import CommandFailed, admin_database_url

URL = "postgresql+asyncpg://flotilla_admin:s3cret-Pa55@db:5432/flotilla"


def test_the_url_comes_from_the_file_without_its_newline(tmp_path: Path) -> None:
    secret = tmp_path / "admin_database_url"
    secret.write_text(URL + "\n")
    assert admin_database_url({"ADMIN_DATABASE_URL_FILE": str(secret)}) == URL


def test_the_variable_still_works_for_the_local_stack() -> None:
    assert admin_database_url({"ADMIN_DATABASE_URL": URL}) == URL


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "neither ADMIN_DATABASE_URL_FILE nor ADMIN_DATABASE_URL is set"),
        ({"ADMIN_DATABASE_URL_FILE": "/nonexistent/url", "ADMIN_DATABASE_URL": URL}, "not both"),
        ({"ADMIN_DATABASE_URL_FILE": "/nonexistent/url"}, "/nonexistent/url: No such file"),
    ],
    ids=["none", "both", "missing-file"],
)
def test_a_missing_or_ambiguous_url_is_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(CommandFailed, match=message) as refused:
        admin_database_url(environ)
    assert "s3cret" not in str(refused.value)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "admin_database_url"
    empty.write_text("\n")
    with pytest.raises(CommandFailed, match="is empty"):
        admin_database_url({"ADMIN_DATABASE_URL_FILE": str(empty)})
