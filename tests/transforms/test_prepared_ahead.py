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
