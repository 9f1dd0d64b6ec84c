"""The warehouse explains itself: every model, report column, raw table and raw column carries
its description as a database comment on DuckDB and Postgres, the text of the yml beside the
models (and of each source's `_sources.yml`); any column without one is listed. The column
tables of docs/reports.md are generated from the same yml and must be current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.transforms.conftest import Warehouse
from transforms import runner, sources_yml
from transforms.descriptions import plain
from transforms.docs import column_table, documented_models, with_column_tables
from transforms.models import TransformError
from transforms.properties import load_yml, read_layer
from transforms.runner import load_models
from transforms.sources_yml import DLT_TABLES, raw_descriptions

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reports.md"


def comments(wh: Warehouse, schema: str) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """(relation -> comment, (relation, column) -> comment) of a dataset."""
    with wh.pipeline.sql_client() as client:
        def rows(sql: str) -> list[Any]:
            with client.execute_query(sql) as cur:
                return list(cur.fetchall())

        if wh.engine == "duckdb":
            relations = rows(f"select table_name, comment from duckdb_tables() where schema_name = '{schema}' "
                             f"union all select view_name, comment from duckdb_views() where schema_name = '{schema}'")
            columns = rows(f"select table_name, column_name, comment from duckdb_columns() "
                           f"where schema_name = '{schema}'")
        else:
            relations = rows(f"select c.relname, obj_description(c.oid, 'pg_class') from pg_class c join "
                             f"pg_namespace n on n.oid = c.relnamespace where n.nspname = '{schema}' "
                             "and c.relkind in ('r', 'v')")
            columns = rows(f"select c.relname, a.attname, col_description(c.oid, a.attnum) from pg_class c "
                           f"join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid "
                           f"where n.nspname = '{schema}' and a.attnum > 0 and not a.attisdropped "
                           "and c.relkind in ('r', 'v')")
    return dict(relations), {(t, c): text for t, c, text in columns}


def check_models(wh: Warehouse, source: str) -> None:
    relations, columns = comments(wh, f"{wh.dataset}_reports")
    models = load_models(source)
    for model in models:
        assert relations.get(model.name) == plain(model.description), model.name
    without = sorted(f"{t}.{c}" for (t, c), text in columns.items() if t in {m.name for m in models} and not text)
    assert not without, f"model columns without a description: {without}"
    for model in models:
        for column, text in model.columns.items():
            assert columns[(model.name, column)] == plain(text), f"{model.name}.{column}"


def check_raw(wh: Warehouse, source: str) -> None:
    relations, columns = comments(wh, wh.dataset)
    described = raw_descriptions(source)
    tables = set(relations) - DLT_TABLES
    assert tables, "no raw tables"
    assert not sorted(t for t in tables if not relations[t]), "raw tables without a description"
    without = sorted(f"{t}.{c}" for (t, c), text in columns.items() if t in tables and not text)
    assert not without, f"raw columns without a description: {without}"
    for table in tables:
        assert relations[table] == plain(described.tables[table].description)
    assert wh.result.undescribed == []


def test_every_leeloo_model_and_column_is_described(fixture_warehouse: Warehouse) -> None:
    check_models(fixture_warehouse, "leeloo")
    check_raw(fixture_warehouse, "leeloo")


def test_a_rebuild_writes_only_the_comments_that_changed(fixture_warehouse: Warehouse,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuild over unchanged tables rewrites no raw comment: one edited by hand is the one
    put back. Where a model is rebuilt in place (Postgres) its comments stay, so none is written."""
    wh = fixture_warehouse
    written: dict[str, list[str]] = {"raw": [], "models": []}

    def recording(module: Any, kind: str) -> None:
        original = module.comment_statements

        def record(*args: Any, **kwargs: Any) -> list[str]:
            statements = original(*args, **kwargs)
            written[kind] += statements
            return statements
        monkeypatch.setattr(module, "comment_statements", record)

    recording(sources_yml, "raw")
    recording(runner, "models")
    with wh.pipeline.sql_client() as client:
        client.execute_sql(f'comment on table "{wh.dataset}"."people" is \'edited by hand\'')
    result = wh.build()
    assert [s.split(" is ")[0] for s in written["raw"]] == [f'comment on table "{wh.dataset}"."people"']
    if wh.engine == "postgres":
        assert result.rebuilt_in_place and not written["models"]
    check_raw(wh, "leeloo")
    check_models(wh, "leeloo")


def test_every_salebot_model_and_column_is_described(salebot_warehouse: Warehouse) -> None:
    check_models(salebot_warehouse, "salebot")
    check_raw(salebot_warehouse, "salebot")


@pytest.mark.parametrize("source", ["leeloo", "salebot"])
def test_every_model_column_is_in_the_yml(source: str) -> None:
    """The yml lists exactly the columns each model selects, each with a description."""
    for model in load_models(source):
        assert list(model.columns) == list(model.ast.named_selects), model.name
        assert all(model.columns.values()), f"{model.name}: columns without a description"


def test_docs_column_tables_are_generated_from_the_yml() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert with_column_tables(text) == text, "docs/reports.md's column tables are stale: run `make docs`"
    reports = {(s, m.name) for s in ("leeloo", "salebot") for m in load_models(s) if m.layer == "reports"}
    assert not sorted(reports - documented_models(text)), "reports without a column table in docs/reports.md"


def test_a_changed_description_changes_the_docs(tmp_path: Path) -> None:
    """The generated table follows the yml: adjacent columns of one text share a row."""
    layer = tmp_path / "reports"
    layer.mkdir()
    (layer / "_reports.yml").write_text(
        "models:\n  - name: r\n    description: one row\n    columns:\n"
        "      - {name: a, description: the `key`, tests: [unique, not_null]}\n"
        "      - {name: b, description: the `key`}\n      - {name: c, description: a | b}\n")
    (r,) = read_layer(layer).values()
    model = type("M", (), {"columns": r.columns})()
    assert column_table(model) == ("| column | meaning |\n|---|---|\n| `a`, `b` | the `key` |\n| `c` | a \\| b |\n")
    assert [t.text for t in r.tests] == ["unique(a)", "not_null(a)"]


def test_a_yml_without_its_model_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s" / "reports").mkdir(parents=True)
    (tmp_path / "s" / "reports" / "_reports.yml").write_text("models:\n  - {name: gone, description: one row}\n")
    with pytest.raises(TransformError, match="without a file: gone"):
        load_models("s", tmp_path)


def test_a_yml_read_again_is_the_same_and_an_edit_is_seen(tmp_path: Path) -> None:
    """A properties file is parsed once per process for the same text; an edited file is read anew."""
    layer = tmp_path / "reports"
    layer.mkdir()
    yml = layer / "_reports.yml"
    yml.write_text("models:\n  - {name: r, description: one row, columns: [{name: a, description: first}]}\n")
    first = read_layer(layer)
    assert read_layer(layer) == first
    assert first["r"].columns == {"a": "first"}
    yml.write_text("models:\n  - {name: r, description: one row, columns: [{name: a, description: second}]}\n")
    assert read_layer(layer)["r"].columns == {"a": "second"}


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parents[2].joinpath("transforms").rglob("*.yml")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_yml_reads_as_pythons_safe_load_reads_it(path: Path) -> None:
    """The C parser (where PyYAML has it) gives the same documents as the pure-Python one."""
    text = path.read_text(encoding="utf-8")
    assert load_yml(text) == yaml.safe_load(text)
