"""Airflow DAG: chatfunnel's nightly load, one mapped task per configured account.

    accounts  ->  load_account (mapped over the accounts, in the `chatfunnel` pool)
              ->  cross_account_views (the `<source>_accounts` views, the BI snapshot)
              ->  dashboard
              ->  every_account_loaded (fails the DAG run, naming any account that failed)

Runs on Airflow 3 (the Task SDK) and on 2.x (2.9 or newer). Copy this file into the DAGs
folder; on the workers, install chatfunnel into Airflow's own Python
(`pip install /path/to/chatfunnel`; the two install side by side) and give it a project
folder, `CHATFUNNEL_HOME` (default /srv/chatfunnel), holding `.dlt/config.toml` and
`.dlt/secrets.toml` with one `[sources.leeloo.accounts.<name>]` section per account, as for
the CLI. Create the pool once: `airflow pools set chatfunnel 4 "chatfunnel accounts"`.

Why a Python task calling `pipelines.run.lifecycle.run_account` rather than a BashOperator
running `chatfunnel run leeloo --account NAME`: both run the same per-account code path
(lock, recovery, load, reports, run record, alert), but the task gets the run's outcome as
a value: its rows and warnings reach the task log, its failure becomes the task's error
with chatfunnel's one-paragraph message, and the final task receives every account's
outcome through XCom. There is no command line to render, so no secret can appear in one.
Where the workers' Python must not carry chatfunnel's packages, the BashOperator line is
the way (`bash_command="chatfunnel run leeloo --account {{ params.account }} --progress none"`,
`cwd=CHATFUNNEL_HOME`), at the price of exit codes instead of outcomes.

A triggered run may set run options in its config (`{"max_requests": 4500}`; the names
are those of the Dagster resource, listed in docs/orchestrators.md); the destination is
the DAG's own, `CHATFUNNEL_DESTINATION`, the same for every task.

Secrets never live in this file or in the rendered task arguments: the tokens are in the
workers' `.dlt/secrets.toml` (or their environment, `SOURCES__LEELOO__ACCOUNTS__ACME__API_TOKEN`);
the Postgres credentials may come from the Airflow Connection `chatfunnel_postgres`,
read inside the task (Airflow masks its password in logs).

`max_active_runs=1` keeps nights from overlapping and chatfunnel's own lock makes a run
started meanwhile by hand fail with "another run is in progress" (retried later).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from typing import Any

try:  # Airflow 3
    from airflow.sdk import DAG, BaseHook, get_current_context, task
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.decorators import task
    from airflow.exceptions import AirflowException, AirflowFailException
    from airflow.hooks.base import BaseHook
    from airflow.operators.python import get_current_context

CHATFUNNEL_HOME = os.environ.get("CHATFUNNEL_HOME", "/srv/chatfunnel")
DESTINATION = os.environ.get("CHATFUNNEL_DESTINATION", "postgres")
POOL = os.environ.get("CHATFUNNEL_POOL", "chatfunnel")
PARALLEL_ACCOUNTS = int(os.environ.get("CHATFUNNEL_PARALLEL_ACCOUNTS", "4"))
POSTGRES_CONNECTION = "chatfunnel_postgres"
DASHBOARD = os.environ.get("CHATFUNNEL_DASHBOARD", f"{CHATFUNNEL_HOME}/www/dashboard.html")

log = logging.getLogger("chatfunnel.airflow")


def in_project() -> None:
    """Where the CLI runs: dlt reads `.dlt/` and the DuckDB file from the working folder.
    chatfunnel itself is imported inside the tasks, so parsing this file stays fast."""
    os.chdir(CHATFUNNEL_HOME)
    os.environ.setdefault("DLT_DATA_DIR", f"{CHATFUNNEL_HOME}/.dlt-data")  # pipeline state kept between runs
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    if DESTINATION == "postgres" and "DESTINATION__POSTGRES__CREDENTIALS" not in os.environ:
        uri = postgres_uri()
        if uri:
            os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = uri


def postgres_uri() -> str | None:
    """The Airflow Connection's URI, if there is one; else `.dlt/secrets.toml` decides."""
    try:
        connection = BaseHook.get_connection(POSTGRES_CONNECTION)
    except Exception:  # noqa: BLE001 - not defined (Airflow 2 and 3 raise different types)
        return None
    uri = connection.get_uri()
    return "postgresql://" + uri.removeprefix("postgres://") if uri.startswith("postgres://") else uri


def label(target: dict[str, Any]) -> str:
    return target["source"] if target["account"] is None else f"{target['source']}/{target['account']}"


@task
def accounts() -> list[dict[str, Any]]:
    """Every configured account of every source, read where the loads will run."""
    in_project()
    from pipelines.config.registry import SOURCES

    return [{"source": a.source, "account": a.name} for spec in SOURCES.values() for a in spec.accounts()]


@task(pool=POOL, max_active_tis_per_dagrun=PARALLEL_ACCOUNTS, map_index_template="{{ chatfunnel_account }}",
      retries=1, retry_delay=timedelta(minutes=20), execution_timeout=timedelta(hours=3))
def load_account(target: dict[str, Any]) -> dict[str, Any]:
    """One account, as `chatfunnel run <source> --account NAME` runs it, with the run options
    of the DAG run's config ("Trigger DAG w/ config": `{"max_requests": 4500}`)."""
    context = get_current_context()
    context["chatfunnel_account"] = label(target)  # shown instead of the map index
    in_project()
    from pipelines.config.options import options_from_config
    from pipelines.errors import ConfigurationMissing, SourceRefused, UsageError
    from pipelines.run.fleet import outcome_to_json
    from pipelines.run.lifecycle import run_account

    config = dict(getattr(context.get("dag_run"), "conf", None) or {})
    options = options_from_config(config, target["source"], target["account"], destination=DESTINATION)
    outcome = run_account(options, publish=False)
    for warning in outcome.warnings:
        log.warning("%s: %s", label(target), warning)
    if outcome.error is not None:
        # a wrong token or setting does not cure itself: only the others are retried
        lasting = isinstance(outcome.error, ConfigurationMissing | UsageError | SourceRefused)
        raise (AirflowFailException if lasting else AirflowException)(str(outcome.error))
    log.info("%s: %s, %d rows into %s dataset %s, %d API requests", label(target), outcome.outcome,
             sum(outcome.rows.values()), DESTINATION, outcome.dataset, outcome.requests)
    return outcome_to_json(outcome)


@task(trigger_rule="all_done")
def cross_account_views(outcomes: list[dict[str, Any]]) -> list[str]:
    """After every account of the night, failed ones included: `<source>_accounts` and,
    on DuckDB, the BI snapshot. A failed account has no outcome here; its views keep its
    last good reports."""
    in_project()
    from pipelines.run.fleet import after_all_accounts, outcome_from_json

    after = after_all_accounts(DESTINATION, [outcome_from_json(o) for o in outcomes if o], publish=True)
    for line in after.lines:
        log.info(line)
    if after.failures:
        raise RuntimeError(str(after.failures[0]))
    return after.lines


@task(trigger_rule="all_done")
def dashboard() -> str:
    """The self-contained HTML dashboard, as `chatfunnel report` writes it."""
    in_project()
    from pipelines.cli import main

    code = main(["report", "--destination", DESTINATION, "--out", DASHBOARD])
    if code:
        raise AirflowException(f"chatfunnel report exited {code}; its message is above")
    return DASHBOARD


@task(trigger_rule="all_done")
def every_account_loaded(targets: list[dict[str, Any]], outcomes: list[dict[str, Any]]) -> None:
    """The night's verdict, as `chatfunnel run` exits non-zero when an account failed: the
    DAG run fails, naming the failed accounts, after the others were loaded and reported."""
    loaded = {label({"source": outcome["account"]["source"], "account": outcome["account"]["name"]})
              for outcome in outcomes if outcome}
    failed = [label(target) for target in targets if label(target) not in loaded]
    if failed:
        raise AirflowException(f"{len(failed)} of {len(targets)} account(s) did not load tonight: "
                               f"{', '.join(failed)}; each one's message is in its load_account task.")


with DAG(
    dag_id="chatfunnel_nightly",
    description="Leeloo.ai + Salebot.pro accounts -> warehouse -> funnel reports",
    schedule="17 3 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,  # the load is incremental by itself; no per-day backfill runs
    max_active_runs=1,
    default_args={"owner": "data"},
    tags=["chatfunnel", "dlt"],
) as dag:
    targets = accounts()
    loads = load_account.expand(target=targets)
    cross_account_views(loads) >> dashboard() >> every_account_loaded(targets, loads)
