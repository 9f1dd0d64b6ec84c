"""Every file the run cannot read or write is named, with the user and the right it lacks.

The CLI runs as a user the file permissions apply to (tests/ops/unprivileged.py); the
files belong to another. Each case: the documented exit code, a message naming the file
and the user, no traceback, and none of the false messages these cases used to give
(a missing key, an unreachable destination, "report the message").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.errors import EXIT_FAILED, EXIT_USAGE
from tests.ops import unprivileged
from tests.ops.conftest import TOKEN

FALSE_MESSAGES = ("Traceback", "report the message", "DESTINATION UNREACHABLE", "Missing configuration",
                  "configured the credentials", "CREDENTIALS and that the server is up")


@pytest.fixture
def who() -> unprivileged.Identities:
    return unprivileged.require()


@pytest.fixture
def place(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working folder and a dlt data folder under it, both open to every user."""
    root = unprivileged.shared_dir()
    (root / "dlt").mkdir(mode=0o777)
    (root / "dlt").chmod(0o777)
    monkeypatch.setenv("DLT_DATA_DIR", str(root / "dlt"))
    for key in [k for k in os.environ if k.startswith(("SOURCES__", "DESTINATION__"))]:
        monkeypatch.delenv(key)  # only this test's account (the emulator fixture sets it after this)
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.chdir(root)
    yield root
    unprivileged.remove(root)


@pytest.fixture
def leeloo(emulator: Callable[..., object]) -> object:
    return emulator(scale=10)


def _first_load_by_owner(who: unprivileged.Identities, place: Path, *reports: str) -> None:
    """The first load (here, in this process), then everything it left belongs to the owner
    (as if the owner ran it)."""
    assert main(["run", "leeloo", "--progress", "none", *(reports or ["--no-transform"])]) == 0
    unprivileged.give(place / "dlt", who.owner_uid)
    for path in place.iterdir():
        if path.name != "dlt":
            unprivileged.give(path, who.owner_uid)


def _assert_named(done: object, code: int, *, path: Path, who: unprivileged.Identities, right: str) -> None:
    stderr = done.stderr + done.stdout  # type: ignore[attr-defined]
    assert done.returncode == code, stderr  # type: ignore[attr-defined]
    assert str(path) in stderr, stderr
    assert f"running as {who.runner} (uid {who.runner_uid})" in stderr, stderr
    assert f"cannot {right}" in stderr, stderr
    for false in FALSE_MESSAGES:
        assert false not in stderr, stderr


def test_a_lock_file_left_by_another_user_is_named(who: unprivileged.Identities, place: Path, leeloo: object) -> None:
    _first_load_by_owner(who, place)
    done = unprivileged.run_cli(who, ["run", "leeloo", "--progress", "none"], place)
    _assert_named(done, EXIT_FAILED, path=place / "dlt" / "locks", who=who, right="")
    assert "lock file" in done.stderr


def test_status_names_the_file_it_cannot_read(who: unprivileged.Identities, place: Path, leeloo: object) -> None:
    _first_load_by_owner(who, place)
    done = unprivileged.run_cli(who, ["status", "leeloo"], place)  # readers share the file under its lock file
    _assert_named(done, EXIT_FAILED, path=place / "dlt" / "locks", who=who, right="write")
    assert "lock file" in done.stderr + done.stdout
    (place / "dlt").chmod(0o700)  # the owner's dlt folder: the service user cannot even look inside
    done = unprivileged.run_cli(who, ["status", "leeloo"], place)
    _assert_named(done, EXIT_FAILED, path=place / "dlt", who=who, right="")


def test_a_read_only_dlt_data_dir_is_named(who: unprivileged.Identities, place: Path, leeloo: object) -> None:
    unprivileged.give(place / "dlt", who.owner_uid, 0o555)
    done = unprivileged.run_cli(who, ["run", "leeloo", "--progress", "none"], place)
    _assert_named(done, EXIT_FAILED, path=place / "dlt", who=who, right="write")
    assert "DLT_DATA_DIR" in done.stderr


def test_an_unreadable_secrets_file_is_not_a_missing_key(who: unprivileged.Identities, place: Path,
                                                          leeloo: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCES__LEELOO__API_TOKEN")
    settings = place / ".dlt"
    settings.mkdir(mode=0o755)
    secrets = settings / "secrets.toml"
    secrets.write_text(f'[sources.leeloo]\napi_token = "{TOKEN}"\n', encoding="utf-8")
    unprivileged.give(settings, who.owner_uid)
    secrets.chmod(0o600)
    done = unprivileged.run_cli(who, ["run", "leeloo", "--progress", "none"], place)
    _assert_named(done, EXIT_USAGE, path=secrets, who=who, right="read")
    assert "chown" in done.stderr


def test_report_names_an_unwritable_chatfunnel_folder(who: unprivileged.Identities, place: Path,
                                                      leeloo: object) -> None:
    _first_load_by_owner(who, place, "--progress", "none")
    for path in place.iterdir():  # the warehouse stays readable; only the report folder is the owner's
        if path.name != ".chatfunnel":
            unprivileged.give(path, who.runner_uid)
    (place / ".chatfunnel").mkdir(exist_ok=True)
    unprivileged.give(place / ".chatfunnel", who.owner_uid, 0o755)
    done = unprivileged.run_cli(who, ["report"], place)
    _assert_named(done, EXIT_FAILED, path=place / ".chatfunnel", who=who, right="write")


def test_an_unwritable_duckdb_file_is_named(who: unprivileged.Identities, place: Path, leeloo: object) -> None:
    _first_load_by_owner(who, place)
    unprivileged.give(place / "dlt", who.runner_uid)  # the dlt folder is the runner's; the warehouse is not
    warehouse = place / "chatfunnel.duckdb"
    done = unprivileged.run_cli(who, ["run", "leeloo", "--progress", "none"], place)
    _assert_named(done, EXIT_FAILED, path=warehouse, who=who, right="write")
    assert "DuckDB file" in done.stderr
