"""The warehouse layout's version, and the migrations that bring an older layout forward.

Each dataset chatfunnel loads holds `_chatfunnel_layout(version, migrated_at,
chatfunnel_version)`: one row per layout a run brought it to. The first run of a newer
chatfunnel finds an older version (no table at all: a warehouse loaded before 0.16.0), runs
the migrations after it in order, says once what they did, and writes the new version
after its load committed. A run that stops before that runs them again: every migration is
idempotent, and reports only what it changed.

Migrations are plain functions of the pipeline and the source's name. What a layout
change needs from the raw data itself is not done here but by the sources on every run:
the per-entity ledger is completed from the raw tables (`sources.bookkeeping`), so a
warehouse restored from a backup is treated like one loaded by an older version.

A Parquet lake has no table to hold the version: its migrations run on every run, doing
nothing once done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from pipelines import __version__
from pipelines.warehouse.destinations import destination_of
from pipelines.warehouse.money_columns import make_money_exact
from pipelines.warehouse.side_columns import rename_side_columns
from sources import bookkeeping

TABLE = "_chatfunnel_layout"
NONE = 0  # a dataset loaded before the layout had a version (chatfunnel 0.15.0 and older)

# Resource state an older version kept that today's code neither reads nor writes, per
# source: per-entity maps that lived in dlt state before the ledger (rewritten whole on
# every load, and shown by `status` as if they were cursors).
LEGACY_STATE_KEYS: dict[str, frozenset[str]] = {
    "leeloo": frozenset({"fingerprints", "messages_loaded_until"}),
    "salebot": frozenset(),
}

# Columns an older version let dlt type from the first values it saw: an ISO date made a
# custom field's `value` a timestamp, later numbers were coerced into it and words went to
# a variant column. Today's code keeps them as text (no date detection).
MISTYPED: dict[str, tuple[tuple[str, str], ...]] = {
    "leeloo": (("people__custom_fields", "value"),),
}


@dataclass(frozen=True)
class Migration:
    """Brings a dataset to `version`; `apply` returns what it changed, one line each."""

    version: int
    apply: Callable[[dlt.Pipeline, str], list[str]]


def drop_legacy_state(pipeline: dlt.Pipeline, source: str) -> list[str]:
    """Remove the resource state keys older versions kept (the ledger replaced them)."""
    legacy = LEGACY_STATE_KEYS.get(source, frozenset())
    resources = pipeline.state.get("sources", {}).get(source, {}).get("resources", {})
    if not any(isinstance(s, dict) and legacy & set(s) for s in resources.values()):
        return []
    dropped: list[str] = []
    with pipeline.managed_state() as state:
        for name, kept in sorted(state.get("sources", {}).get(source, {}).get("resources", {}).items()):
            for key in sorted(legacy & set(kept) if isinstance(kept, dict) else ()):
                kept.pop(key)
                dropped.append(f"{name}.{key}")
    return [f"removed what older versions kept in dlt state (the ledger replaces it): {', '.join(dropped)}"]


def complete_ledgers(pipeline: dlt.Pipeline, source: str) -> list[str]:
    """Nothing to change (the sources complete the ledger from the raw tables every run):
    say what that means for a dataset loaded by a version that kept no ledger."""
    if bookkeeping.TABLE in pipeline.default_schema.tables:
        return []
    return ["no ledger before: every entity the warehouse holds is re-verified by the sweep first, "
            "and what is gone from the API is marked deleted within the sweep period"]


def mistyped_tables(pipeline: dlt.Pipeline, source: str) -> list[str]:
    """The tables of `MISTYPED` whose column the dataset holds as something else than text."""
    tables = pipeline.default_schema.tables
    return sorted({table for table, column in MISTYPED.get(source, ())
                   if tables.get(table, {}).get("columns", {}).get(column, {}).get("data_type") not in (None, "text")})


def _drop_tables(pipeline: dlt.Pipeline, source: str, tables: list[str]) -> None:
    """Drop `tables` from the dataset and the schema; the reports go first (on Postgres a
    view stops a table from being dropped) and are rebuilt by the run's reports step."""
    from transforms.runner import drop_reports

    drop_reports(pipeline, source)
    with pipeline.sql_client() as client:
        client.drop_tables(*tables)
        with client.with_staging_dataset():  # merge loads go through a copy there, of the old type too
            client.drop_tables(*tables)
    pipeline.default_schema.drop_tables(tables)


def reload_mistyped(pipeline: dlt.Pipeline, source: str) -> list[str]:
    """Strings stay text, as a fresh load keeps them: the schema stops guessing timestamps
    (the source asks for that, but an older version's stored schema still had it), and a
    table whose values were already coerced (their text cannot be recovered) is dropped,
    to be loaded again as its parents are re-read."""
    schema = pipeline.default_schema
    guessing = source in MISTYPED and "iso_timestamp" in (schema.settings.get("detections") or [])
    wrong = mistyped_tables(pipeline, source) if _has_sql(pipeline) else []
    if not guessing and not wrong:
        return []
    schema.remove_type_detection("iso_timestamp")
    done = ["new columns keep strings as text (an older version let dlt guess timestamps)"] if guessing else []
    if wrong:
        _drop_tables(pipeline, source, wrong)
        done.append(f"dropped {', '.join(wrong)}: an older version typed it from the first values it saw (a date "
                    "made every value a timestamp); it is loaded again as text as each person's detail is "
                    "re-read, within the sweep period")
    pipeline.schemas.save_schema(schema)
    return done


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, drop_legacy_state),
    Migration(1, complete_ledgers),
    Migration(1, reload_mistyped),
    Migration(2, make_money_exact),
    Migration(2, rename_side_columns),
)
CURRENT = max(m.version for m in MIGRATIONS)


def pending(found: int) -> list[Migration]:
    """The migrations a dataset at layout `found` needs, in order."""
    return [m for m in MIGRATIONS if m.version > found]


def _has_sql(pipeline: dlt.Pipeline) -> bool:
    return destination_of(pipeline).sql


def stored_version(pipeline: dlt.Pipeline) -> int | None:
    """The dataset's layout version: None for a dataset never loaded (nothing to migrate),
    `NONE` for one loaded before the layout had a version."""
    if not pipeline.default_schema_name:
        return None
    if not _has_sql(pipeline):
        return NONE
    with pipeline.sql_client() as client:
        try:
            rows = client.execute_sql(f"select max(version) from {client.make_qualified_table_name(TABLE)}")
        except DatabaseUndefinedRelation:
            return NONE
    return int(rows[0][0]) if rows and rows[0][0] is not None else NONE


def migrate(pipeline: dlt.Pipeline, source: str) -> list[str]:
    """Run what the dataset's layout needs before this version extracts; what was done."""
    found = stored_version(pipeline)
    if found is None or found >= CURRENT:
        return []
    done: list[str] = []
    for migration in pending(found):
        done.extend(migration.apply(pipeline, source))
    if done and _has_sql(pipeline):
        done.insert(0, f"warehouse layout {found} -> {CURRENT} (chatfunnel {__version__})")
    return done


def record(pipeline: dlt.Pipeline) -> None:
    """After a committed load: the dataset is at `CURRENT` (written once per version)."""
    if not _has_sql(pipeline) or stored_version(pipeline) == CURRENT:
        return
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name(TABLE)
        client.execute_sql(f"create table if not exists {name} (version bigint not null, "
                           "migrated_at timestamp with time zone not null, chatfunnel_version varchar not null)")
        client.execute_sql(f"insert into {name} (version, migrated_at, chatfunnel_version) values (%s, %s, %s)",
                           CURRENT, datetime.now(timezone.utc), __version__)
