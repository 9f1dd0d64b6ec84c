"""What a run prepares beside its extract (`prepare_reports`) is what its report build then
renders: the build finds every data test's query rendered already."""

from __future__ import annotations

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
