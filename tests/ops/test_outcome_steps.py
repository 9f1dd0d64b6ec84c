"""A run's outcome adds up step by step (`RunOutcome.add`): the news step, then each window of
older history; and which report warnings a run states as warnings, and which as what its
backfill under way explains (`pipelines.run.report_warnings`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pipelines.config.accounts import Account
from pipelines.run.outcomes import ReportWarnings, RunOutcome, StepDone
from pipelines.run.report_warnings import awaiting_backfill, state, state_and_log
from pipelines.run.summary import format_outcome
from transforms.models import load_models
from transforms.runner import BuildResult
from transforms.runner import TestResult as DataTestResult


def outcome() -> RunOutcome:
    return RunOutcome(account=Account("leeloo"), destination="duckdb", dataset="leeloo", pipeline_name="p",
                      started_at=datetime(2026, 12, 6, tzinfo=UTC))


def test_rows_requests_incomplete_and_warnings_add_up_over_steps() -> None:
    run = outcome()
    run.add(StepDone(rows={"people": 3, "orders": 5}, new_columns={"people": ["a"]}))
    run.add(StepDone(requests=7, incomplete={"people"}, warnings=["odd", "odd"], facts={"people": {"known": 3}}))
    run.add(StepDone(rows={"people": 2}, new_columns={"people": ["a", "b"], "orders": ["c"]}))
    run.add(StepDone(requests=4, incomplete=["chat_messages"], warnings=["odd", "late"],
                     facts={"people": {"known": 5}, "deleted_orders": 1}))
    assert run.rows == {"people": 5, "orders": 5} and run.requests == 11
    assert run.incomplete == ["chat_messages", "people"] and run.warnings == ["odd", "late"]
    assert run.facts == {"people": {"known": 3}, "deleted_orders": 1}  # the first step's word on a fact stands
    assert run.new_columns == {"people": ["a", "b"], "orders": ["c"]}


def test_only_the_last_report_build_s_warnings_stand() -> None:
    run = outcome()
    run.add(StepDone(warnings=["source odd"]))
    run.add(StepDone(reports=ReportWarnings(["reports: orphans 9"], ["reports: 9 orders refer to ..."])))
    run.add(StepDone(warnings=["history odd"]))
    run.add(StepDone(reports=ReportWarnings(["reports: clock"], [])))
    assert run.warnings == ["source odd", "history odd", "reports: clock"]
    assert run.reported == ReportWarnings(["reports: clock"], [])


def orphans(model: str, ref: str, failures: int) -> DataTestResult:
    return DataTestResult(model, f"orphans(x -> {ref}.x)", "warn", failures, f"{failures} value(s) with no match",
                      "orphans", ref)


def build(*tests: DataTestResult) -> BuildResult:
    return BuildResult("leeloo", "duckdb", "leeloo", "leeloo_reports", tests=list(tests),
                       build_warnings=["raw dataset x has no tables yet"])


def test_leeloo_orphans_of_a_resource_still_backfilled_are_expected() -> None:
    models = load_models("leeloo")
    awaiting = awaiting_backfill(models, {"people", "communication_channels", "chat_messages"})
    assert {"stg_people", "stg_channels", "stg_people_tags", "stg_touches"} <= awaiting
    assert not {"stg_tunnels", "stg_template_categories"} & awaiting
    assert awaiting_backfill(models, set()) == set()

    result = build(orphans("stg_orders", "stg_people", 167), orphans("stg_templates", "stg_template_categories", 2),
                   orphans("stg_chat_messages", "stg_channels", 0),
                   DataTestResult("stg_orders", "no_future(created_at)", "warn", 1, "1 row(s)", "no_future"))
    stated = state(result, awaiting)
    assert stated.expected == ["167 orders refer to people whose history is not loaded yet "
                               "(backfill under way)"]
    assert stated.warnings[0] == "reports: raw dataset x has no tables yet"
    templates = "reports: stg_templates: orphans(x -> stg_template_categories.x): 2 value(s) with no match"
    assert templates in stated.warnings
    assert any("later than now" in w for w in stated.warnings) and len(stated.warnings) == 3

    complete = state(result, set())  # once the history is loaded, an orphan is a warning again
    assert complete.expected == [] and len(complete.warnings) == 4
    assert state(None, awaiting) == ReportWarnings()


def test_the_summary_says_the_expected_apart_from_the_warnings(tmp_path: Path) -> None:
    run = outcome()
    run.add(StepDone(reports=state(build(orphans("stg_orders", "stg_people", 167)), {"stg_people"})))
    text = format_outcome(run)
    assert "expected: 167 orders refer to people whose history is not loaded yet" in text
    assert "warning: reports: raw dataset" in text and "no match" not in text


def test_the_build_summary_counts_the_warnings_the_run_states() -> None:
    """The reports line's count, the summary's `warning:` lines and the run's record (what
    `status` shows) agree: an orphan the backfill explains is counted apart, not as a warning."""
    result = build(orphans("stg_orders", "stg_people", 167), orphans("stg_templates", "stg_template_categories", 2))
    run = outcome()
    run.reports = result
    run.add(StepDone(reports=state_and_log(result, "leeloo", {"people"})))
    text = format_outcome(run)
    assert "data tests 0/2 passed; 2 warning(s), 1 expected while the backfill runs" in text
    assert text.count("  warning: ") == 2 and len(run.record(None).warnings) == 2

    run.add(StepDone(reports=state_and_log(result, "leeloo", set())))  # the history is complete
    text = format_outcome(run)
    assert "data tests 0/2 passed; 3 warning(s)" in text and "expected" not in text
    assert text.count("  warning: ") == 3 and len(run.record(None).warnings) == 3
