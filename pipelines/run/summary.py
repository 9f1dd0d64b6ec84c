"""What a run prints when it ends: a few lines a person reads in the morning."""

from __future__ import annotations

from pipelines.config.redaction import scrub
from pipelines.run.lifecycle import RunOutcome
from pipelines.warehouse.destinations import destination


def format_outcome(outcome: RunOutcome) -> str:
    label = outcome.account.label
    if outcome.error is not None:
        head = f"{label}: {outcome.outcome} in the {outcome.error.step or 'run'} step after {outcome.seconds:.1f}s"
        lines = [head]
        if outcome.recovery:
            lines.append(f"  {outcome.recovery.describe()}")
        return "\n".join(lines)
    state = ("complete" if not outcome.incomplete
             else f"incomplete: {', '.join(outcome.incomplete)} (continues next run)")
    lines = [f"{label}: loaded into {outcome.destination} dataset '{outcome.dataset}' in {outcome.seconds:.1f}s, "
             f"{outcome.requests} API requests, {state}"]
    if outcome.recovery:
        lines.append(f"  {outcome.recovery.describe()}; then loaded what is new")
    for line in outcome.facts.get("migrated") or ():
        lines.append(f"  upgraded: {line}")
    rows = ", ".join(f"{t}={n}" for t, n in sorted(outcome.rows.items())) or "no new rows"
    lines.append(f"  rows: {rows}")
    for table, columns in sorted(outcome.new_columns.items()):
        lines.append(f"  new columns the API started to send: {table}: {', '.join(columns)}")
    twins = outcome.facts.get("replayed_rows_removed")
    if twins:
        lines.append(f"  a load job ran again after a transient error; removed {sum(twins.values())} rows it had "
                     "written twice (" + ", ".join(f"{t}={n}" for t, n in sorted(twins.items())) + ")")
    for warning in outcome.warnings:
        lines.append(f"  warning: {scrub(warning)}")
    for note in outcome.reported.expected:
        lines.append(f"  expected: {scrub(note)}")
    deleted = {k[len("deleted_"):]: v for k, v in outcome.facts.items() if k.startswith("deleted_") and v}
    if deleted:
        marked = ", ".join(f"{t}={n}" for t, n in sorted(deleted.items()))
        lines.append(f"  marked deleted (gone from the API): {marked}")
    kept = outcome.history.describe_kept()
    if kept:
        lines.append(f"  kept (the API cannot give it back): {kept}")
    dropped = outcome.history.describe_dropped()
    if dropped:
        lines.append(f"  dropped (--drop-history): {dropped}")
    if outcome.reports is not None:
        lines.append(f"  reports: {outcome.reports}")
    if outcome.published is not None:
        lines.append(f"  BI snapshot: {outcome.published}")
    if outcome.location:
        lines.append(f"  warehouse: {scrub(outcome.location)}")
    if destination(outcome.destination).lake:
        lines.append("  (a Parquet lake appends every version of a row; the lake views and reports read the newest)")
    return "\n".join(lines)
