"""Per-entity bookkeeping in a table of the dataset, committed with the data it describes.

A source remembers per entity what it last read (a fingerprint of a list entry, how far a
chat is loaded, when a client was last verified). In dlt resource state that memory would
be rewritten whole into `_dlt_pipeline_state` on every load: megabytes a night at 50,000
people. Here it lives in `_chatfunnel_entities` (one row per resource and entity), written
as rows of the same load package as the data, and read back at the start of the next
extract, after dlt has loaded any pending package. So it is exactly as current as the
data in the warehouse: a package that never loads advances neither.

Rows count only when the load that wrote them completed (is in `_dlt_loads`), as dlt's
own state does: a load that failed halfway never advances what the source thinks it has.
Only an *epoch* and a run counter live in resource state. A full refresh resets the
state, so the epoch changes and rows of the old epoch are ignored (dlt drops the table
only at the load step, after the extract has read it).

A resource that writes rows here writes its own table as a variant too (`table_hints`):
dlt merges a resource's decorator hints into every variant table it yields, so a resource
writing several tables declares each table's hints on its items and none on itself.

The ledger is derivable from the warehouse: after an upgrade from a version that kept no
ledger, a restore from a backup, or a hand-dropped table, live rows of the raw tables
have no entry. `read_ledger` completes it from them (`Seed`, one query per raw table per
run): each such row becomes an entry never verified, so the sweep re-verifies it first and
a complete listing without it proves it gone. Nothing the warehouse holds is ever outside
what the source compares the API with.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import dlt
from dlt.common.configuration.container import Container
from dlt.common.configuration.exceptions import ContextDefaultCannotBeCreated
from dlt.common.storages.exceptions import CurrentLoadPackageStateNotAvailable
from dlt.extract.source import SourceInjectableContext

from sources import readback
from sources.deletions import Proof
from sources.marks import Mark, hinted

TABLE = "_chatfunnel_entities"
KEY = ("resource", "entity_id")
COLUMNS: dict[str, dict[str, Any]] = {
    "resource": {"data_type": "text", "nullable": False},
    "entity_id": {"data_type": "text", "nullable": False},
    "epoch": {"data_type": "text"},
    "fingerprint": {"data_type": "text"},
    "mark": {"data_type": "text"},
    "verified_run": {"data_type": "bigint"},
    "verified_at": {"data_type": "timestamp", "timezone": True},
}


def table_hints(table: str, columns: Mapping[str, Any], primary_key: str | tuple[str, ...] = "id",
                write_disposition: str = "merge") -> Any:
    """Hints for rows a resource yields into `table` (see the module docstring)."""
    return dlt.mark.make_hints(
        table_name=table, primary_key=primary_key, write_disposition=write_disposition,  # type: ignore[arg-type]
        columns={k: dict(v) for k, v in columns.items()},  # type: ignore[misc]
    )


def declared_columns(source: Any, tables: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """Per table, the columns chatfunnel itself declares for `source`: `tables` (the source
    package's `DECLARED_COLUMNS`, the columns it gives `table_hints`), the bookkeeping tables
    every source writes, and the resources' own column hints. A newer version adding one to
    an older warehouse is a change of chatfunnel's layout, not a field the API started to send."""
    found: dict[str, set[str]] = {TABLE: set(COLUMNS), DELETIONS_TABLE: set(DELETIONS_COLUMNS),
                                  COVERAGE_TABLE: set(COVERAGE_COLUMNS)}
    for table, columns in tables.items():
        found.setdefault(table, set()).update(columns)
    for resource in source.resources.values():
        table, columns = resource.table_name, resource.columns
        if isinstance(table, str) and isinstance(columns, dict):
            found.setdefault(table, set()).update(columns)
    return found


@dataclass
class Entry:
    fingerprint: str | None = None
    mark: str | None = None
    verified_run: int | None = None
    verified_at: datetime | None = None


class Ledger:
    """The per-entity memory of one resource for one run: read once, updated as work finishes.

    `run` counts this resource's runs (1 on the first); a sweep spreads re-verification
    over runs with it; `seeded` counts the entries completed from the raw tables. Call
    `rows()` after a batch of work and yield them: they reach the table in the same load as
    the data they describe.
    """

    def __init__(self, resource: str, state: dict[str, Any], known: Mapping[str, Entry] | None = None) -> None:
        self.resource = resource
        self.epoch: str = state.setdefault("ledger_epoch", uuid.uuid4().hex)
        self.run: int = int(state.get("ledger_run", 0)) + 1
        state["ledger_run"] = self.run
        self.entries: dict[str, Entry]
        if known is not None:
            self.entries, self.seeded = dict(known), 0
        else:
            self.entries, held = read_ledger(resource, self.epoch)
            # entries the warehouse holds and the ledger lacks (an older layout, a restore)
            self.seeded = complete(self.entries, held)
        self._pending: dict[str, Entry] = {}

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entity_id: str) -> Entry | None:
        return self.entries.get(entity_id)

    def put(self, entity_id: str, *, fingerprint: str | None = None, mark: str | None = None,
            verified: bool = True) -> None:
        old = self.entries.get(entity_id) or Entry()
        entry = Entry(
            fingerprint=fingerprint if fingerprint is not None else old.fingerprint,
            mark=mark if mark is not None else old.mark,
            verified_run=self.run if verified else old.verified_run,
            verified_at=datetime.now(timezone.utc) if verified else old.verified_at,
        )
        self.entries[entity_id] = entry
        self._pending[entity_id] = entry

    def forget(self, entity_id: str) -> None:
        """The entity is gone: its next appearance counts as new."""
        if self.entries.pop(entity_id, None) is not None:
            self._pending[entity_id] = Entry()

    def rows(self, mark: Mark = hinted) -> Any:
        """The changed entries as rows for `TABLE`, marked for it; None when nothing changed."""
        if not self._pending:
            return None
        rows = [
            {"resource": self.resource, "entity_id": key, "epoch": self.epoch if entry != Entry() else None,
             "fingerprint": entry.fingerprint, "mark": entry.mark,
             "verified_run": entry.verified_run, "verified_at": entry.verified_at}
            for key, entry in self._pending.items()
        ]
        self._pending = {}
        return mark(rows, table_hints(TABLE, COLUMNS, KEY))


def from_completed_loads(loads_table: str = "_dlt_loads") -> str:
    """The condition on `_dlt_load_id` that keeps rows of completed loads only.

    A load that failed halfway (or was aborted) may have committed rows of ours without the
    data they describe; dlt counts its own state the same way (status 0 in `_dlt_loads`)."""
    return f"_dlt_load_id in (select load_id from {loads_table} where status = 0)"


def _entries_sql(resources: Iterable[str]) -> str:
    """The ledger entries of `resources`: the newest version per key (the filesystem
    destination appends) among rows of completed loads (an entry missing here only means
    the entity is read again), with its epoch."""
    names = ", ".join("'" + name.replace("'", "''") + "'" for name in sorted(resources))
    return (
        "select resource, entity_id, epoch, fingerprint, mark, verified_run, verified_at from ("
        "select resource, entity_id, epoch, fingerprint, mark, verified_run, verified_at, row_number() over "
        f"(partition by resource, entity_id order by _dlt_load_id desc) as version from {TABLE} "
        f"where resource in ({names}) and {from_completed_loads()}) v where version = 1"
    )


ALONGSIDE: dict[str, list[Callable[[], object]]] = {}


def register_alongside(source: str, read: Callable[[], object]) -> None:
    """A read every extract of `source` makes (one that keeps its result with
    `readback.remembered`): it runs in the ledgers' turn instead of a turn of its own."""
    ALONGSIDE.setdefault(source, []).append(read)


class _Ledgers:
    """The ledgers of several resources and the raw rows that complete them, read in one
    turn at the warehouse, with the source's reads `ALONGSIDE` when `alongside`; each
    resource takes its own once, and its copy is dropped."""

    def __init__(self, source: str | None, resources: set[str], *, alongside: bool = False) -> None:
        self.entries: dict[str, dict[str, tuple[str | None, Entry]]] = {name: {} for name in resources}
        self.held: dict[str, dict[str, Entry]] = {}
        with readback.batch():
            if readback.stored_columns(TABLE) is not None:
                for resource, entity_id, epoch, *values in readback.query(_entries_sql(resources)):
                    self.entries[str(resource)][str(entity_id)] = (epoch, Entry(*values))
            self.held = {name: held_by(source, name) for name in resources}
            for read in ALONGSIDE.get(source or "", ()) if alongside else ():
                read()

    def take(self, resource: str, epoch: str) -> tuple[dict[str, Entry], dict[str, Entry]] | None:
        """`resource`'s entries of `epoch` and what the warehouse holds of it; None when it
        was not read here or was taken already."""
        if resource not in self.entries:
            return None
        entries = {key: entry for key, (at, entry) in self.entries.pop(resource).items() if at == epoch}
        return entries, self.held.pop(resource)


def _extracting() -> set[str]:
    """The resources selected in the extract under way; none outside one."""
    try:
        source = Container()[SourceInjectableContext].source
    except ContextDefaultCannotBeCreated:
        return set()
    return set(source.selected_resources) if source is not None else set()


def read_ledger(resource: str, epoch: str) -> tuple[dict[str, Entry], dict[str, Entry]]:
    """The ledger of `resource` in the running pipeline's dataset (empty before the first
    load) and the raw rows it must hold as never-verified entries (`held_by`).

    Under a read guard, the first ledger of an extract reads those of every selected
    resource, and the reads registered `ALONGSIDE`, in the same turn (a turn at a DuckDB
    file costs more than a small read), and each resource then takes its own; a ledger not
    named after a selected resource, or read a second time, reads its own."""
    source = readback.current_pipeline().default_schema_name
    selected = _extracting() if readback.guarded() else set()
    if resource in selected:
        ledgers = readback.remembered(("ledgers", source), lambda: _Ledgers(source, selected, alongside=True))
        taken = ledgers.take(resource, epoch)
        if taken is not None:
            return taken
    taken = _Ledgers(source, {resource}).take(resource, epoch)
    assert taken is not None
    return taken


Row = tuple[Any, ...]


def plain_entry(row: Row) -> tuple[str, Entry] | None:
    """A raw row's ledger key (its id) and an entry that knows nothing: verify it first."""
    return None if row[0] is None else (str(row[0]), Entry())


@dataclass(frozen=True)
class Seed:
    """A raw table whose live rows a resource's ledger must hold (see the module docstring).

    `columns` (the id first) are read from the newest completed version of each live row;
    a column the table does not have yet (an older layout) reads as NULL. `derived` adds
    (expression over the row `t`, table the expression needs) pairs after them, NULL when
    that table is missing. `build` turns the values into the ledger key and an entry."""

    table: str
    columns: tuple[str, ...] = ("id",)
    build: Callable[[Row], tuple[str, Entry] | None] = plain_entry
    derived: tuple[tuple[str, str], ...] = ()


SEEDS: dict[tuple[str, str], tuple[Seed, ...]] = {}


def register_seeds(source: str, resource: str, *seeds: Seed) -> None:
    """Declare the raw tables `source`'s `resource` keeps ledger entries for."""
    SEEDS[(source, resource)] = seeds


def seed_query(seed: Seed, columns: set[str], tables: set[str]) -> str:
    """The one query that reads `seed`'s live rows, given the table's columns and the
    dataset's tables: the newest completed version per id, not marked deleted on the row
    nor by a standing deletion record (a Parquet lake never updates a row in place)."""
    picked = [f"t.{c}" if c in columns else "null" for c in seed.columns]
    picked += [expr if needs in tables else "null" for expr, needs in seed.derived]
    live = " and t.deleted_at is null" if "deleted_at" in columns else ""
    if DELETIONS_TABLE in tables:
        name = seed.table.replace("'", "''")
        live += (
            " and cast(t.id as varchar) not in (select entity_id from (select entity_id, deleted_at, row_number() "
            f"over (partition by entity_id order by _dlt_load_id desc) as version from {DELETIONS_TABLE} "
            f"where table_name = '{name}' and {from_completed_loads()}) d "
            "where d.version = 1 and d.deleted_at is not null)"
        )
    return (
        f"select {', '.join(picked)} from (select *, row_number() over (partition by id order by _dlt_load_id desc) "
        f"as _version from {seed.table} where {from_completed_loads()}) t where t._version = 1{live}"
    )


def held_entries(seed: Seed) -> dict[str, Entry]:
    """What the warehouse holds of `seed.table`, as never-verified ledger entries."""
    columns = readback.stored_columns(seed.table)
    if columns is None or "id" not in columns:
        return {}
    wanted = (DELETIONS_TABLE, *(needs for _, needs in seed.derived))
    tables = {name for name in wanted if readback.stored_columns(name) is not None}
    found: dict[str, Entry] = {}
    for row in readback.query(seed_query(seed, set(columns), tables)):
        built = seed.build(row)
        if built is not None:
            found[built[0]] = built[1]
    return found


def refreshing() -> bool:
    """A full refresh is extracting: its load drops the raw tables, so nothing they hold is
    known (an order seen again is observed for the first time)."""
    try:
        return bool(dlt.current.load_package_state()["state"].get("dropped_tables"))
    except CurrentLoadPackageStateNotAvailable:
        return False


def held_by(source: str | None, resource: str) -> dict[str, Entry]:
    """What the warehouse holds of `resource`'s raw tables (`SEEDS`), as never-verified
    entries; nothing during a full refresh, whose load drops those tables."""
    if source is None or refreshing():
        return {}
    found: dict[str, Entry] = {}
    for seed in SEEDS.get((source, resource), ()):
        for key, entry in held_entries(seed).items():
            found.setdefault(key, entry)
    return found


def complete(entries: dict[str, Entry], held: Mapping[str, Entry]) -> int:
    """Add to `entries` every held entity it lacks; how many.

    The ledger is then never smaller than the warehouse: whatever an older version loaded
    without an entry, or a restore brought back, is re-verified like any known entity."""
    missing = {key: entry for key, entry in held.items() if key not in entries}
    entries.update(missing)
    return len(missing)


DELETIONS_TABLE = "_chatfunnel_deletions"
DELETIONS_KEY = ("table_name", "entity_id")
DELETIONS_COLUMNS: dict[str, dict[str, Any]] = {
    "table_name": {"data_type": "text", "nullable": False},
    "entity_id": {"data_type": "text", "nullable": False},
    "deleted_at": {"data_type": "timestamp", "timezone": True},
    "proof": {"data_type": "text"},
    "observed_at": {"data_type": "timestamp", "timezone": True},
}


def deletion_rows(table: str, entity_ids: Iterable[str], proof: str | None, mark: Mark = hinted) -> Any:
    """Rows for `_chatfunnel_deletions`: `table`'s entities with these ids are gone (proof:
    "listing" for a complete listing without them, "404", "client_not_found", ...), or,
    with `proof=None`, exist again. After the load, the run sets (or clears) `deleted_at`
    on the raw rows from this table, and on the rows of tables that hang off them
    (`pipelines.run.reconcile`); the raw rows themselves stay for audit."""
    now = datetime.now(timezone.utc)
    rows = [
        {"table_name": table, "entity_id": str(key), "deleted_at": now if proof else None,
         "proof": proof, "observed_at": now}
        for key in entity_ids
    ]
    if not rows:
        return None
    return mark(rows, table_hints(DELETIONS_TABLE, DELETIONS_COLUMNS, DELETIONS_KEY))


def proof_rows(proof: Proof, mark: Mark = hinted) -> list[Any]:
    """The deletion rows of one table's proof: each proved id with its proof, and a
    restore row (no proof) for each marked id that was seen again."""
    items = [deletion_rows(proof.table, ids, kind, mark) for kind, ids in proof.by_proof().items()]
    items.append(deletion_rows(proof.table, proof.back(), None, mark))
    return [item for item in items if item is not None]


COVERAGE_TABLE = "_chatfunnel_coverage"
COVERAGE_KEY = "resource"
COVERAGE_COLUMNS: dict[str, dict[str, Any]] = {
    "resource": {"data_type": "text", "nullable": False},
    "complete_since": {"data_type": "timestamp", "timezone": True},
    "complete_until": {"data_type": "timestamp", "timezone": True},
    "history_since": {"data_type": "timestamp", "timezone": True},
    "estimated_complete_at": {"data_type": "timestamp", "timezone": True},
    "as_of": {"data_type": "timestamp", "timezone": True},
    "history_entities": {"data_type": "bigint"},
    "loaded_entities": {"data_type": "bigint"},
}


@dataclass(frozen=True)
class Coverage:
    """The span of history a resource holds complete: every entity active from
    `complete_since` to `complete_until` is loaded. The backfill is done when
    `complete_since <= history_since`; `estimated_complete_at` says when it will be.
    `history_entities`: how many entities the API counted in the whole history when the
    backfill began (None when it gave no count), `loaded_entities` how many of them are in."""

    complete_since: datetime | None
    complete_until: datetime | None
    history_since: datetime
    estimated_complete_at: datetime | None = None
    history_entities: int | None = None
    loaded_entities: int | None = None


def coverage_rows(resources: Iterable[str], coverage: Coverage) -> Any:
    """Rows for `_chatfunnel_coverage` (one per resource, merged on it), yielded by the
    resource itself so they commit with the data they describe: a report joined to them
    knows which span of its data is whole, however a run ended."""
    now = datetime.now(timezone.utc)
    rows = [{"resource": name, "complete_since": coverage.complete_since, "complete_until": coverage.complete_until,
             "history_since": coverage.history_since, "estimated_complete_at": coverage.estimated_complete_at,
             "history_entities": coverage.history_entities, "loaded_entities": coverage.loaded_entities,
             "as_of": now} for name in resources]
    return hinted(rows, table_hints(COVERAGE_TABLE, COVERAGE_COLUMNS, COVERAGE_KEY))
