"""`chatfunnel status`: per account, what the last runs did and what the next run will do.

It reads the run history in the warehouse and the local journal (runs the warehouse could
not take), the pipeline's local folder (a load package an interrupted run left behind),
the rows now in the warehouse, the state cursors and the figures the last run recorded
(sweep progress, missing permissions). Exit code 0 when every account's last run
succeeded (or nothing ran yet), 1 when one failed or a destination cannot be reached, so
a monitoring check can run it.

The facts of an account are gathered once into a status model (`model.AccountStatus`, filled
by `gather`), judged once (`model.verdict`), and rendered twice: as text (`text`) and as the
`status --json` document (`document`). Times people read are in the account's
`reports_timezone`; the JSON keeps ISO 8601 UTC.

A run may be going while it looks: `status` then says so (its pid, step and since when, from
the run's lock file) and exits 0 for it; it reads beside the run without taking its place
(`gather.warehouse_reader`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable
from datetime import datetime, timezone

from pipelines.config.accounts import Account
from pipelines.config.registry import SOURCES, SourceSpec
from pipelines.operations.status import gather
from pipelines.operations.status.document import account_document, status_document
from pipelines.operations.status.gather import READER_WAIT_SECONDS, row_counts, state_cursors
from pipelines.operations.status.model import AccountStatus, verdict
from pipelines.operations.status.text import running_line, status_lines
from pipelines.operations.status.times import ago, iso_utc
from pipelines.warehouse.account_pipeline import make_pipeline
from pipelines.warehouse.locks import run_in_progress

__all__ = ["READER_WAIT_SECONDS", "AccountStatus", "account_document", "account_status", "accounts_to_show", "ago",
           "iso_utc", "print_status", "print_status_json", "row_counts", "running_line", "state_cursors",
           "status_document", "status_lines"]


def account_status(spec: SourceSpec, account: Account, destination: str, dataset: str | None = None) -> AccountStatus:
    """Everything `status` knows of one account, gathered in the order it is read: the run in
    progress, the warehouse (history, setup), the journal, the local folder, the figures."""
    status = AccountStatus(account, destination, dataset or account.dataset)
    gather.account_zone(status)
    pipeline = make_pipeline(account, destination, status.dataset)
    status.running = run_in_progress(pipeline.pipeline_name)
    running = status.running is not None
    with gather.warehouse_reader(status, pipeline) as reader:
        # the local folder is the running run's: no state sync, and its package is not left over
        gather.run_history(status, reader, sync=not running and reader is not None)
        readable = status.reachable and reader is not None  # never open (or create) a file without a reader
        pipeline = reader or pipeline  # the same name and local folder; on DuckDB a read-only destination
        journaled = gather.journal(status, pipeline.pipeline_name)
        gather.setup(status, spec, pipeline, journaled)
        if not running:
            gather.left_behind(status, pipeline)
        gather.warehouse_figures(status, spec, pipeline, readable)
    return status


def accounts_to_show(sources: Iterable[str], account_names: Iterable[str] | None = None) -> list[Account]:
    """Every configured account of the sources; an unconfigured source's default account
    when it has run here before."""
    wanted = set(account_names or [])
    shown: list[Account] = []
    for name in sources:
        spec = SOURCES[name]
        accounts = spec.accounts()
        if not accounts:
            accounts = [Account(name)]
        shown.extend(a for a in accounts if not wanted or (a.name or "default") in wanted)
    return shown


def print_status(destination: str, sources: Iterable[str] = tuple(SOURCES), dataset: str | None = None,
                 account_names: Iterable[str] | None = None) -> int:
    """The text status of every account shown; 1 when one of them is not healthy."""
    exit_code = 0
    for i, account in enumerate(accounts_to_show(sources, account_names)):
        if i:
            print()
        status = account_status(SOURCES[account.source], account, destination, dataset)
        print("\n".join(status_lines(status, datetime.now(timezone.utc))))
        if not verdict(status).healthy:
            exit_code = 1
    return exit_code


def print_status_json(destination: str, sources: Iterable[str] = tuple(SOURCES), dataset: str | None = None,
                      account_names: Iterable[str] | None = None) -> int:
    """`status --json`: nothing but the document on stdout (anything else printed while it
    looks goes to stderr); the exit code of the text status."""
    now = datetime.now(timezone.utc)
    with contextlib.redirect_stdout(sys.stderr):
        statuses = [account_status(SOURCES[a.source], a, destination, dataset)
                    for a in accounts_to_show(sources, account_names)]
    document = status_document(statuses, now)
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0 if document["healthy"] else 1
