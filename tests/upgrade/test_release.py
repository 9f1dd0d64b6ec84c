"""The release's version is said in one place and everywhere the same; the layout's
migrations are ordered; what is chatfunnel's own is never called the API's or a cursor."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines import __version__
from pipelines.cli import main
from pipelines.config.options import RunOptions
from pipelines.config.registry import SOURCES
from pipelines.operations.status import state_cursors
from pipelines.run.lifecycle import _new_columns
from pipelines.warehouse import layout
from sources import bookkeeping
from sources.leeloo.run import DELETABLE

ROOT = Path(__file__).resolve().parents[2]


def test_the_version_is_said_in_one_place(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pipelines.__version__"}
    newest = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert newest is not None and newest.group(1) == __version__, "the CHANGELOG's newest entry is this version"
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"chatfunnel {__version__}"


def test_migrations_run_in_order_and_end_at_the_current_layout() -> None:
    versions = [m.version for m in layout.pending(layout.NONE)]
    assert versions == sorted(versions) and versions[-1] == layout.CURRENT
    assert layout.pending(layout.CURRENT) == []


def test_columns_chatfunnel_declares_are_not_the_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", "a-token")
    monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", "a-key")
    declared = bookkeeping.declared_columns(SOURCES["leeloo"].build(RunOptions(source="leeloo")).source,
                                           SOURCES["leeloo"].declared_columns)
    assert all("deleted_at" in declared[table] for table in DELETABLE)
    salebot = bookkeeping.declared_columns(SOURCES["salebot"].build(RunOptions(source="salebot")).source,
                                          SOURCES["salebot"].declared_columns)
    assert {"deleted_at", "updated_at"} <= salebot["clients"]
    assert "title" in declared["orders"] and "title" not in salebot.get("orders", set()), "each its own tables"
    before = {"people": {"id", "name"}, "orders": {"id"}}
    after = {"people": {"id", "name", "deleted_at", "_dlt_id", "nickname"}, "orders": {"id", "deleted_at"},
             "new_table": {"id"}}
    assert _new_columns(before, after, declared) == {"people": ["nickname"]}


def test_status_shows_no_older_state_as_cursors() -> None:
    people = {"cursor": "2026-12-01T00:00:00+00:00", "fingerprints": {"a": "1"}, "ledger_run": 3}
    channels = {"messages_loaded_until": {"c": "2026-11-30"}}
    pipeline = SimpleNamespace(state={"sources": {"leeloo": {"resources": {
        "people": people, "communication_channels": channels}}}})
    assert state_cursors(pipeline, "leeloo") == {"people": {"cursor": "2026-12-01T00:00:00+00:00"}}  # type: ignore[arg-type]
