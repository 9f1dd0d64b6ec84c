"""Which of a report build's warnings a run states as warnings, and which as what its backfill
under way explains.

While older history is still to be loaded (newest first), the data tests that warn find what
the backfill has not reached: an order read in a window (orders go newest first too, each by
its own date: `sources.leeloo.deferred`) whose person, dated by their last message, is in a
window not read yet is an orphan of `stg_orders.person_id`. Said as a fault, a budget-cut
first load would read as broken. An orphan whose referenced model reads a resource still
loading (older history pending, or a read the budget stopped: `SourceReport.still_loading`) is
therefore said as one line of what the backfill explains; every other warning (times later
than now, orphans of what is loaded whole, anything once the history is complete) stays a
warning. The log and the outcome (its summary, its record) say the same.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from pipelines.run.outcomes import ReportWarnings
from transforms.models import Model, load_models
from transforms.runner import BuildResult, TestResult, warning_lines

logger = logging.getLogger("chatfunnel.reports")

PREFIX = "reports: "


def resource_of(table: str) -> str:
    """The resource a raw table belongs to: dlt names a nested table `<parent>__<child>`."""
    return table.split("__", 1)[0]


def awaiting_backfill(models: Iterable[Model], pending: Collection[str]) -> set[str]:
    """The models that read a raw table of a resource whose older history is still to be
    loaded, themselves or through the models they read. `models` in dependency order
    (`load_models`'), so each model's reads are known before a model that reads it."""
    reads: dict[str, set[str]] = {}
    for model in models:
        reads[model.name] = {resource_of(t) for t in model.raw_refs}.union(
            *(reads.get(ref, set()) for ref in model.model_refs))
    return {name for name, resources in reads.items() if resources & set(pending)}


def _entity(model: str) -> str:
    """What a model's rows are, in words: `stg_chat_messages` -> `chat messages`."""
    return model.removeprefix("stg_").replace("_", " ")


def explained(test: TestResult, awaiting: Collection[str]) -> bool:
    """An orphan count the backfill explains: what it refers to is not all loaded yet."""
    return test.kind == "orphans" and test.failures > 0 and test.ref_model in awaiting


def state(result: BuildResult | None, awaiting: Collection[str]) -> ReportWarnings:
    """The build's warnings as the run says them: `awaiting`, the models whose history is
    still pending (`awaiting_backfill`), makes their orphans an expected line each."""
    if result is None:
        return ReportWarnings()
    tests = [t for t in result.tests if not explained(t, awaiting)]
    expected = [f"{t.failures} {_entity(t.model)} refer to {_entity(t.ref_model or '')} whose history is not "
                "loaded yet (backfill under way)" for t in result.tests if explained(t, awaiting)]
    warnings = [*result.build_warnings, *warning_lines(tests)]
    return ReportWarnings([f"{PREFIX}{w}" for w in warnings], expected)


def state_and_log(result: BuildResult | None, source: str, pending: Collection[str]) -> ReportWarnings:
    """`state` for a source whose resources `pending` still have older history to load, logged:
    a warning as a warning, what the backfill explains as information. The build's summary
    (`BuildResult.__str__`) then counts the same warnings and the expected apart."""
    stated = state(result, awaiting_backfill(load_models(source), pending) if pending else set())
    if result is not None:
        result.expected = len(stated.expected)
    for line in stated.warnings:
        logger.warning(line)
    for line in stated.expected:
        logger.info(line)
    return stated
