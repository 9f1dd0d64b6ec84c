"""Airflow DAG: the chatfunnel nightly load, the run history check and the dashboard.

Copy this file into the DAGs folder of an Airflow (2.7+) whose workers have chatfunnel
installed (`pip install /path/to/chatfunnel`, same Python as the worker) and a working
directory for it (CHATFUNNEL_HOME, with `.dlt/config.toml`).

Secrets come from Airflow, never from this file:
- Variables `leeloo_api_token`, `salebot_api_key` (Airflow masks variables whose names
  contain "token"/"key" in logs and the rendered-template view);
- Connection `chatfunnel_postgres` (a Postgres connection; its password is masked);
- optional Variable `slack_incoming_hook_secret` for chatfunnel's own failure alert
  (Airflow's on_failure_callback can alert as well).

Why a BashOperator running the CLI rather than dlt's Airflow helper
(`dlt.helpers.airflow_helper.PipelineTasksGroup`, which `dlt deploy <script> airflow-composer`
scaffolds): `chatfunnel run` is more than `pipeline.run` — it rebuilds the reports, records
the run in `_chatfunnel_runs`, publishes the BI snapshot and alerts — and the CLI is what
cron and GitHub Actions run too. The PipelineTasksGroup fits if you want one Airflow task
per dlt resource; then call `transforms.runner.build_reports` in a task after it.

`max_active_runs=1` keeps Airflow from overlapping runs; chatfunnel's own lock also makes a
run started by hand meanwhile exit with code 75 ("another run is in progress").
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

CHATFUNNEL_HOME = os.environ.get("CHATFUNNEL_HOME", "/srv/chatfunnel")
DESTINATION = os.environ.get("CHATFUNNEL_DESTINATION", "postgres")

ENV = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "SOURCES__LEELOO__API_TOKEN": "{{ var.value.leeloo_api_token }}",
    "SOURCES__SALEBOT__API_KEY": "{{ var.value.salebot_api_key }}",
    "DESTINATION__POSTGRES__CREDENTIALS": "{{ conn.chatfunnel_postgres.get_uri() }}",
    "RUNTIME__SLACK_INCOMING_HOOK": "{{ var.value.get('slack_incoming_hook_secret', '') }}",
    # the pipeline state folder must survive between runs on a worker; on ephemeral
    # workers dlt restores the state from the destination at the start of each run
    "DLT_DATA_DIR": f"{CHATFUNNEL_HOME}/.dlt-data",
}

default_args = {
    "owner": "data",
    "retries": 1,  # a run is resumable: nothing half-loaded is committed
    "retry_delay": timedelta(minutes=20),
    "execution_timeout": timedelta(hours=3),
}

with DAG(
    dag_id="chatfunnel_nightly",
    description="Leeloo.ai + Salebot.pro -> warehouse -> funnel reports",
    schedule="17 3 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,  # the load is incremental by itself; no per-day backfill runs
    max_active_runs=1,
    default_args=default_args,
    tags=["chatfunnel", "dlt"],
) as dag:
    load = BashOperator(
        task_id="chatfunnel_run_all",
        bash_command=f"chatfunnel run all --destination {DESTINATION} --progress none",
        cwd=CHATFUNNEL_HOME,
        env=ENV,
        append_env=True,
    )
    status = BashOperator(
        task_id="chatfunnel_status",
        bash_command=f"chatfunnel status --destination {DESTINATION}",
        cwd=CHATFUNNEL_HOME,
        env=ENV,
        append_env=True,
        trigger_rule="all_done",
    )
    report = BashOperator(
        task_id="chatfunnel_dashboard",
        bash_command=(
            f"chatfunnel report --destination {DESTINATION} "
            f"--out {CHATFUNNEL_HOME}/www/dashboard.html"
        ),
        cwd=CHATFUNNEL_HOME,
        env=ENV,
        append_env=True,
    )
    load >> [status, report]
