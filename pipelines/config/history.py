"""What a full refresh keeps: rows that exist only because a run observed them.

The APIs give no history of tunnel statistics (counters as of the call: one snapshot per
UTC day is the only way to get history) nor of order statuses (each run compares an
order's status with the one it saw last). dlt's refresh modes drop whole resources, and
`order_status_changes` is written by the `orders` resource, so `--full-refresh` cannot
leave them out of the drop. Instead, before a full refresh extracts anything, each kept
table is copied aside in the same dataset (`_chatfunnel_kept_<table>`, one statement,
atomic), dlt drops and reloads everything, and after the load the copy is put back and
dropped (one transaction). A kill at any point leaves either the old table or the copy:
every run checks for a copy after its load (and after finishing an interrupted load) and
finishes the restore.

A source declares its kept tables as `KEPT_ON_REFRESH` (see `KeptTable`). Two kinds:

* snapshots: a kept row comes back unless the refresh read the same key (today's
  snapshot, read again, is the newer one);
* changes (`transitions` set): kept rows win over the refresh's rows of the same key, and
  the refresh's first observation of an order whose history is kept is joined to it: it
  is deleted when the status is the one last kept (nothing changed), else it becomes the
  change from that status. With a `sequence` column (Salebot's `change_seq`, which the
  source's reset memory numbers from 0 again) the kept rows are renumbered below 0, in
  their order, so the next changes cannot overwrite them.

* columns (`columns` set): observed columns of a table the refresh reloads (Salebot's
  `orders.first_seen_at`): the kept values are written over the refreshed rows, and the
  source's memory of them (`carry`) is set to the same, so its next row keeps them.

A kept row whose entity (its tunnel, its order) the refreshed table does not hold waits
in the copy, and comes back after a later load reads the entity again: a budget-stopped
refresh loses nothing. `--drop-history` drops the tables and any copy instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dlt

PREFIX = "_chatfunnel_kept_"


@dataclass(frozen=True)
class KeptTable:
    """A table a full refresh keeps, as a source declares it (a dict in `KEPT_ON_REFRESH`)."""

    table: str
    key: tuple[str, ...]
    entity: str  # the column naming the entity a row belongs to (tunnel_id, order_id)
    parent: str  # the table of that entity, with an `id` column
    noun: str  # what a row is, for the run's output: "snapshots", "changes"
    transitions: tuple[tuple[str, str], ...] = ()  # (old column, new column) of a change
    order_by: str = "observed_at"  # the newest kept change of an entity is the last by this
    sequence: str | None = None  # a per-entity sequence number in the key, renumbered
    observed: str = "observed_at"  # when a run saw the row: with a sequence, part of its identity
    columns: tuple[str, ...] = ()  # only these observed columns of a reloaded table are kept
    carry: str | None = None  # "module:function(client, {entity: {column: value}})": the source's memory

    @property
    def aside(self) -> str:
        return PREFIX + self.table

    @property
    def label(self) -> str:
        """What is kept, as a person reads it: the table, or its kept columns."""
        return self.table if not self.columns else f"{self.table}.{'/'.join(self.columns)}"


def kept_tables(declared: Sequence[Mapping[str, Any]]) -> tuple[KeptTable, ...]:
    """The source's declarations as `KeptTable`s."""
    tables = []
    for item in declared:
        values = dict(item)
        values["key"] = tuple(values["key"])
        values["transitions"] = tuple(tuple(pair) for pair in values.get("transitions", ()))
        values["columns"] = tuple(values.get("columns", ()))
        tables.append(KeptTable(**values))
    return tuple(tables)


@dataclass
class HistoryReport:
    """What the history step did, for the run's output and its record."""

    kept: dict[str, int] = field(default_factory=dict)  # table -> rows put back
    waiting: dict[str, int] = field(default_factory=dict)  # table -> rows still aside
    dropped: dict[str, int] = field(default_factory=dict)  # table -> rows dropped (--drop-history)
    nouns: dict[str, str] = field(default_factory=dict)

    def describe_kept(self) -> str | None:
        if not self.kept and not self.waiting:
            return None
        text = ", ".join(f"{t} ({n} {self.nouns.get(t, 'rows')})" for t, n in sorted(self.kept.items()))
        waiting = ", ".join(f"{t}={n}" for t, n in sorted(self.waiting.items()) if n)
        if waiting:
            text = (text + "; " if text else "") + (
                f"set aside for entities the reload has not read (or the API no longer has): {waiting}")
        return text

    def facts(self) -> dict[str, dict[str, int]]:
        """For the run's record (and `chatfunnel status`): what was kept, waits, was dropped."""
        found = {"history_kept": self.kept, "history_set_aside": {k: n for k, n in self.waiting.items() if n},
                 "history_dropped": self.dropped}
        return {key: dict(value) for key, value in found.items() if value}

    def describe_dropped(self) -> str | None:
        if not self.dropped:
            return None
        return ", ".join(f"{t} ({n} {self.nouns.get(t, 'rows')})" for t, n in sorted(self.dropped.items()))


def what_is_lost(kept: Sequence[KeptTable]) -> str:
    """One sentence naming what `--drop-history` loses, said before it runs."""
    names = ", ".join(f"{k.label} ({k.noun})" for k in kept)
    return (f"--drop-history drops {names}: history no API can give back; the reports built on it "
            "restart from today")


# ---------------------------------------------------------------- SQL helpers


class _Sql:
    """The dataset's tables through dlt's SQL client, engine-neutral SQL only."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def name(self, table: str) -> str:
        return str(self.client.make_qualified_table_name(table))

    def columns(self, table: str) -> list[str]:
        """The table's columns in the database, [] when it does not exist."""
        rows = self.client.execute_sql(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
            "order by ordinal_position", self.client.dataset_name, table)
        return list(dict.fromkeys(str(r[0]) for r in rows or []))  # once, whatever else is attached

    def scalar(self, sql: str) -> int:
        rows = self.client.execute_sql(sql)
        return int(rows[0][0] or 0) if rows else 0

    def run(self, sql: str) -> None:
        self.client.execute_sql(sql)


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _match(kept: KeptTable, left: str, right: str) -> str:
    """`left` and `right` rows are the same observation: same key (and, with a sequence,
    the same moment: the refresh numbers its own rows from 0 again)."""
    columns = [*kept.key, *([kept.observed] if kept.sequence else [])]
    return " and ".join(f"{left}.{_q(c)} = {right}.{_q(c)}" for c in columns)


def _has_parent(sql: _Sql, kept: KeptTable, alias: str) -> str:
    return (f"exists (select 1 from {sql.name(kept.parent)} p "
            f"where cast(p.id as text) = cast({alias}.{_q(kept.entity)} as text))")


# ---------------------------------------------------------------- before the refresh


def set_aside(pipeline: dlt.Pipeline, declared: Sequence[KeptTable]) -> None:
    """Copy each kept table aside before a full refresh drops it (one statement each).

    A copy already there is an earlier restore not finished: rows not in it are added."""
    with pipeline.sql_client() as client:
        sql = _Sql(client)
        for kept in declared:
            columns = sql.columns(kept.table)
            if not columns:
                continue
            aside = sql.columns(kept.aside)
            if not aside:
                chosen = ", ".join(_q(c) for c in (*kept.key, *kept.columns)) if kept.columns else "*"
                sql.run(f"create table {sql.name(kept.aside)} as select {chosen} from {sql.name(kept.table)}")
                continue
            common = ", ".join(_q(c) for c in columns if c in aside)
            sql.run(f"insert into {sql.name(kept.aside)} ({common}) select {common} from {sql.name(kept.table)} t "
                    f"where not exists (select 1 from {sql.name(kept.aside)} k where {_match(kept, 'k', 't')})")


def drop_history(pipeline: dlt.Pipeline, declared: Sequence[KeptTable], report: HistoryReport) -> None:
    """`--drop-history`: count what is lost, drop any copy aside; dlt drops the tables."""
    with pipeline.sql_client() as client:
        sql = _Sql(client)
        for kept in declared:
            report.nouns[kept.label] = kept.noun
            lost = 0
            for table in (kept.table, kept.aside):
                if sql.columns(table):
                    lost += sql.scalar(f"select count(*) from {sql.name(table)}")
            if sql.columns(kept.aside):
                sql.run(f"drop table {sql.name(kept.aside)}")
            report.dropped[kept.label] = lost


# ---------------------------------------------------------------- after the load


def restore(pipeline: dlt.Pipeline, declared: Sequence[KeptTable], report: HistoryReport) -> None:
    """Put back every copy set aside, each in one transaction; nothing when none is."""
    with pipeline.sql_client() as client:
        sql = _Sql(client)
        for kept in declared:
            report.nouns[kept.label] = kept.noun
            if not sql.columns(kept.aside):
                continue
            columns = sql.columns(kept.table)
            if not columns or not sql.columns(kept.parent):
                report.waiting[kept.label] = sql.scalar(f"select count(*) from {sql.name(kept.aside)}")
                continue
            aside = sql.columns(kept.aside)
            with client.begin_transaction():
                restored, waiting = _restore_one(sql, kept, [c for c in columns if c in aside])
            report.kept[kept.label] = report.kept.get(kept.label, 0) + restored
            if waiting:
                report.waiting[kept.label] = waiting


def _restore_one(sql: _Sql, kept: KeptTable, columns: list[str]) -> tuple[int, int]:
    """Put back the rows of one copy whose entity the table's parent holds; (restored, waiting)."""
    table, aside = sql.name(kept.table), sql.name(kept.aside)
    ready = _has_parent(sql, kept, "k")
    restored = sql.scalar(f"select count(*) from {aside} k where {ready}")
    if kept.columns:
        _put_back_columns(sql, kept)
    elif kept.transitions:
        _put_back_changes(sql, kept, columns)
    else:
        restored = sql.scalar(f"select count(*) from {aside} k where {ready} and not exists "
                              f"(select 1 from {table} t where {_match(kept, 't', 'k')})")
        listed = ", ".join(_q(c) for c in columns)
        sql.run(f"insert into {table} ({listed}) select {listed} from {aside} k where {ready} and not exists "
                f"(select 1 from {table} t where {_match(kept, 't', 'k')})")
    sql.run(f"delete from {aside} as a where {_has_parent(sql, kept, 'a')}")
    waiting = sql.scalar(f"select count(*) from {aside}")
    if not waiting:
        sql.run(f"drop table {aside}")
    return restored, waiting


def _put_back_columns(sql: _Sql, kept: KeptTable) -> None:
    """Kept observed values over the refreshed rows, and into the source's memory."""
    table, aside = sql.name(kept.table), sql.name(kept.aside)
    entity = _q(kept.entity)
    ready = _has_parent(sql, kept, "k")
    sets = ", ".join(f"{_q(c)} = (select k.{_q(c)} from {aside} k where k.{entity} = t.{entity})"
                     for c in kept.columns)
    sql.run(f"update {table} as t set {sets} where exists (select 1 from {aside} k where k.{entity} = t.{entity})")
    if kept.carry is None:
        return
    listed = ", ".join(f"k.{_q(c)}" for c in kept.columns)
    rows = sql.client.execute_sql(f"select k.{entity}, {listed} from {aside} k where {ready}") or []
    values = {str(r[0]): dict(zip(kept.columns, r[1:], strict=True)) for r in rows}
    module, _, function = kept.carry.partition(":")
    getattr(importlib.import_module(module), function)(sql.client, values)


def _put_back_changes(sql: _Sql, kept: KeptTable, columns: list[str]) -> None:
    """Kept changes replace the refresh's rows of the same observation (renumbered below 0
    with a sequence), then the refresh's first observations are joined to them."""
    table, aside = sql.name(kept.table), sql.name(kept.aside)
    ready = _has_parent(sql, kept, "k")
    sql.run(f"delete from {table} as t where exists (select 1 from {aside} k where {ready} and "
            f"{_match(kept, 'k', 't')})")
    values = [_renumbered(kept, c, aside) if c == kept.sequence else f"k.{_q(c)}" for c in columns]
    sql.run(f"insert into {table} ({', '.join(_q(c) for c in columns)}) select {', '.join(values)} "
            f"from {aside} k where {ready}")
    _join_first_observations(sql, kept)


def _renumbered(kept: KeptTable, column: str, aside: str) -> str:
    """A kept sequence number moved below 0: the entity's last kept change becomes -1."""
    return (f"k.{_q(column)} - (select max(m.{_q(column)}) from {aside} m "
            f"where m.{_q(kept.entity)} = k.{_q(kept.entity)}) - 1")


def _join_first_observations(sql: _Sql, kept: KeptTable) -> None:
    """The refresh saw each order for the first time (old status NULL); for an order with
    kept history that is either no change (deleted) or a change from the last kept status."""
    table, aside = sql.name(kept.table), sql.name(kept.aside)
    entity = _q(kept.entity)

    def last(column: str) -> str:
        return (f"(select k.{_q(column)} from {aside} k where k.{entity} = t.{entity} "
                f"order by k.{_q(kept.order_by)} desc limit 1)")

    first = (" and ".join(f"t.{_q(old)} is null" for old, _ in kept.transitions)
             + f" and exists (select 1 from {aside} k where k.{entity} = t.{entity})"
             + f" and not exists (select 1 from {aside} k where {_match(kept, 'k', 't')})")
    if kept.sequence:
        first += f" and t.{_q(kept.sequence)} >= 0"
    same = " and ".join(f"t.{_q(new)} is not distinct from {last(new)}" for _, new in kept.transitions)
    sql.run(f"delete from {table} as t where {first} and {same}")
    updates = ", ".join(f"{_q(old)} = {last(new)}" for old, new in kept.transitions)
    sql.run(f"update {table} as t set {updates} where {first}")
