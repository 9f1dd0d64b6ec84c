"""What a run prepares beside its extract (`prepare_reports`) is what its report build then
renders: the build finds every data test's query rendered already."""

from __future__ import annotations

from sqlglot import exp

from tests.transforms import fixture_data
from transforms.models import _render_text
from transforms.runner import prepare_reports


def test_a_build_after_prepare_reports_renders_no_data_test_query(warehouse_factory) -> None:
    wh = warehouse_factory("duckdb")
    wh.load(fixture_data.resources())
    _render_text.cache_clear()
    prepare_reports("leeloo", "duckdb", wh.dataset)
    prepared = _render_text.cache_info()
    assert prepared.currsize > 10  # one query per tested model

    result = wh.build()

    built = _render_text.cache_info()
    examples = sum(1 for t in result.tests if t.failures)  # a failed test's examples: a query of their own
    assert built.misses - prepared.misses == examples
    assert built.hits - prepared.hits == prepared.currsize


def test_models_are_parsed_once_until_a_file_changes(tmp_path) -> None:
    """The parsed models are kept per process, and a changed model file is read again."""
    import os
    import shutil

    from transforms.models import TRANSFORMS_DIR, load_models

    root = tmp_path / "transforms"
    shutil.copytree(TRANSFORMS_DIR, root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    first = load_models("leeloo", root)
    assert load_models("leeloo", root)[0] is first[0], "a second build parses nothing again"

    path = next(m.path for m in first if m.name == "stg_people")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("select", "select 1 as added_here,", 1), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    again = {m.name: m for m in load_models("leeloo", root)}
    assert again["stg_people"] is not first[[m.name for m in first].index("stg_people")]
    assert "added_here" in again["stg_people"].ast.sql()


def test_a_model_body_is_rendered_again_when_a_column_it_reads_comes_or_goes() -> None:
    """`model_body` is kept per process, keyed by what decides it: the same raw columns give
    the very statement a fresh render writes; a column the model reads that is missing is
    padded with NULL and said, and once it arrives the statement reads it again."""
    from transforms.models import load_models, model_body, pad_missing, render

    models = load_models("leeloo")
    names = [m.name for m in models]
    model = next(m for m in models if m.name == "stg_people")
    table = sorted(model.raw_refs)[0].lower()
    read = sorted(c.name for c in model.ast.find_all(exp.Column) if c.table and c.name)
    full = {t.lower(): {c.lower() for c in read} | {"id", "_dlt_load_id", "_dlt_id"} for t in model.raw_refs}

    def fresh(columns: dict[str, set[str]]) -> str:
        tree = model.ast.copy()
        pad_missing(model, tree, "raw_ds", columns, [])
        return render(tree, "duckdb", "raw_ds", "rep_ds", names, zone="UTC", copy=False)

    body, notes = model_body(model, "duckdb", "raw_ds", "rep_ds", names=names, raw_columns=full)
    assert body == fresh(full) and not notes
    dropped = sorted(full[table] & {c.lower() for c in read} - {"id"})[0]
    lacking = {**full, table: full[table] - {dropped}}
    padded, notes = model_body(model, "duckdb", "raw_ds", "rep_ds", names=names, raw_columns=lacking)
    assert padded == fresh(lacking) != body
    assert notes and dropped in notes[0]
    again, notes = model_body(model, "duckdb", "raw_ds", "rep_ds", names=names, raw_columns=full)
    assert again == body and not notes


def test_a_model_body_follows_the_reports_time_zone() -> None:
    from transforms.models import ZONE_NAME, load_models, model_body

    models = load_models("leeloo")
    names = [m.name for m in models]
    model = next(m for m in models if any(str(f.this).lower() == ZONE_NAME for f in m.ast.find_all(exp.Anonymous)))
    columns: dict[str, set[str]] = {}
    utc, _ = model_body(model, "duckdb", "raw_ds", "rep_ds", names=names, raw_columns=columns)
    tokyo, _ = model_body(model, "duckdb", "raw_ds", "rep_ds", names=names, raw_columns=columns, zone="Asia/Tokyo")
    assert "'Asia/Tokyo'" in tokyo and "'Asia/Tokyo'" not in utc and "'UTC'" in utc
