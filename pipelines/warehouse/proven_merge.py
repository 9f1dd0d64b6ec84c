"""dlt's merge without its deduplication sort where the staged rows are proven unique: the
decision is `staged_rows.proven_unique`; this module gathers what it needs from dlt's loader
(the chain's load files) and the staging dataset (one count per table), and marks the chain
with dlt's own hint. Postgres uses it (`pgcopy.CopyingPostgresClient`); DuckDB does not: its
sort is cheap, and the same five pairs of its load step at 50,000 people did not move."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from dlt.common.destination.client import FollowupJobRequest, PreparedTableSchema
from dlt.common.schema import TTableSchema
from dlt.common.schema.utils import get_columns_names_with_prop, get_first_column_name_with_prop, is_nested_table
from dlt.common.storages.load_package import LoadJobInfo, PackageStorage

from pipelines.warehouse import staged_rows

logger = logging.getLogger("chatfunnel.merge")

DEFAULT_STRATEGY = "delete-insert"  # what dlt merges with when a table names no strategy


class ProvenMergeMixin:
    """For a dlt SQL job client with a staging dataset: a delete-insert merge whose staged rows
    are proven unique is created with dlt's `x-stage-data-deduplicated` hint on its root."""

    sql_client: Any

    def create_table_chain_completed_followup_jobs(
        self,
        table_chain: Sequence[PreparedTableSchema],
        completed_table_chain_jobs: Sequence[LoadJobInfo] | None = None,
    ) -> list[FollowupJobRequest]:
        root = table_chain[0]
        if (root["write_disposition"] == "merge"
                and root.get("x-merge-strategy", DEFAULT_STRATEGY) in (None, DEFAULT_STRATEGY)
                and completed_table_chain_jobs and self._staged_unique(table_chain, completed_table_chain_jobs)):
            table_chain = staged_rows.mark_deduplicated(table_chain)  # type: ignore[arg-type,assignment]
        return super().create_table_chain_completed_followup_jobs(  # type: ignore[misc]
            table_chain, completed_table_chain_jobs)

    def _staged_unique(self, table_chain: Sequence[PreparedTableSchema], jobs: Sequence[LoadJobInfo]) -> bool:
        """Whether the chain's staged rows are proven unique; anything unproven (an error
        included) leaves dlt's deduplication on."""
        tables = [staged_rows.StagedTable(str(table["name"]), dedup_keys(table),
                                          tuple(job_file(job) for job in jobs
                                                if job.job_file_info.table_name == table["name"]))
                  for table in table_chain]
        try:
            if not staged_rows.worth_proving(tables):
                return False
            proven = staged_rows.proven_unique(tables, self._staged_counts([t.name for t in tables]))
        except Exception as exc:  # noqa: BLE001 - not proven: the merge deduplicates as always
            logger.debug("merge of %s deduplicates: %s", table_chain[0]["name"], exc)
            return False
        logger.debug("merge of %s: staged rows %s", table_chain[0]["name"],
                     "proven unique, not deduplicated again" if proven else "not proven unique, deduplicated")
        return proven

    def _staged_counts(self, tables: list[str]) -> dict[str, int]:
        with self.sql_client as client, client.with_staging_dataset():
            counts = " UNION ALL ".join(f"SELECT {i}, count(*) FROM {client.make_qualified_table_name(name)}"
                                        for i, name in enumerate(tables))
            return {tables[i]: int(count) for i, count in client.execute_sql(counts) or []}


def dedup_keys(prepared: PreparedTableSchema) -> tuple[str, ...]:
    """What dlt's merge deduplicates a table of the chain on."""
    table = cast(TTableSchema, prepared)
    if is_nested_table(table):
        row_key = get_first_column_name_with_prop(table, "row_key")
        return (row_key,) if row_key else ()
    return tuple(get_columns_names_with_prop(table, "primary_key"))


def job_file(job: LoadJobInfo) -> str:
    """The job's load file: dlt names every job of a completed chain by its place among the
    completed jobs, while the one completing the chain is still among the started ones."""
    path = Path(job.file_path)
    if path.exists():
        return str(path)
    return str(path.parent.parent / PackageStorage.STARTED_JOBS_FOLDER / path.name)
