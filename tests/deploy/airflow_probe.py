"""Run by an Airflow interpreter, not by pytest: `python airflow_probe.py parse|run DAG_FOLDER`.

`parse` loads the folder into a DagBag as the scheduler does and describes the DAG; `run`
runs it once with `dag.test()` (every task in this process, in dependency order) and
describes the task instances. The description is the last line: `PROBE <json>`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

DAG_ID = "chatfunnel_nightly"


def dagbag(folder: str) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2.x
    return DagBag(dag_folder=folder)


def describe(bag: Any) -> dict[str, Any]:
    import airflow

    facts: dict[str, Any] = {"airflow": airflow.__version__,
                             "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}}
    dag = bag.dags.get(DAG_ID)
    if dag is None:
        return facts
    schedule = getattr(dag, "schedule", None) or getattr(dag, "schedule_interval", None)
    facts.update(
        dag_id=dag.dag_id, max_active_runs=dag.max_active_runs, catchup=dag.catchup, schedule=str(schedule),
        tasks={
            task.task_id: {
                "mapped": type(task).__name__.endswith("MappedOperator"),
                "pool": task.pool,
                "max_active_tis_per_dagrun": task.max_active_tis_per_dagrun,
                "trigger_rule": str(getattr(task.trigger_rule, "value", task.trigger_rule)),
                "upstream": sorted(task.upstream_task_ids),
            }
            for task in dag.tasks
        },
    )
    return facts


def run(bag: Any) -> dict[str, Any]:
    facts = describe(bag)
    dag_run = bag.dags[DAG_ID].test()
    facts["state"] = str(dag_run.state)
    facts["task_instances"] = [
        {"task_id": ti.task_id, "map_index": ti.map_index, "label": getattr(ti, "rendered_map_index", None),
         "state": str(ti.state)}
        for ti in dag_run.get_task_instances()
    ]
    return facts


if __name__ == "__main__":
    command, folder = sys.argv[1], sys.argv[2]
    result = describe(dagbag(folder)) if command == "parse" else run(dagbag(folder))
    print("PROBE " + json.dumps(result, default=str), flush=True)
