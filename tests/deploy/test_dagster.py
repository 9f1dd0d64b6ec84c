"""The Dagster integration: dagster-dlt assets partitioned by account, materialised in-process
against one Leeloo emulator per account, each account into its own dataset."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, WRONG_TOKEN, LeelooAccounts, in_ci, load_file_module
from tests.leeloo.truth import assert_matches_truth
from tests.warehouse import Warehouse

if in_ci():  # CI installs the extra: a missing Dagster there is a failure, not a skip
    import dagster as dg
else:
    dg = pytest.importorskip("dagster", reason="the dagster extra is not installed (pip install -e '.[dagster]')")
    pytest.importorskip("dagster_dlt", reason="the dagster extra is not installed (pip install -e '.[dagster]')")

PEOPLE = dg.AssetKey(["leeloo", "people"])


def definitions_module() -> ModuleType:
    return load_file_module(DEPLOY / "dagster" / "definitions.py", "chatfunnel_dagster_definitions")


def shipped_instance(tmp_path: Path) -> Any:
    """A real (sqlite) Dagster instance with the instance settings we ship."""
    overrides = yaml.safe_load((DEPLOY / "dagster" / "dagster.yaml").read_text())
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return dg.DagsterInstance.local_temp(str(home), overrides=overrides)


def materialize_account(defs: Any, instance: Any, account: str) -> Any:
    job = defs.resolve_job_def("leeloo_accounts_load")
    return job.execute_in_process(partition_key=account, instance=instance, raise_on_error=False)


def people_metadata(result: Any) -> dict[str, Any]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == PEOPLE]
    assert len(events) == 1
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


def step_failure(result: Any) -> Any:
    failures = [e for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1
    return failures[0].step_failure_data


def test_definitions_follow_the_configured_accounts(dlt_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """One partition per account (the unnamed one is `default`), every account run in the
    pool, one nightly run request per account tagged for the per-account run queue limit,
    and no secret in what Dagster stores about the definitions."""
    secrets = {"SOURCES__LEELOO__API_TOKEN": "unnamed-secret-5f1c2d",
               "SOURCES__LEELOO__ACCOUNTS__ACME__API_TOKEN": "acme-secret-8e2b7a",
               "SOURCES__LEELOO__ACCOUNTS__GLOBEX__API_TOKEN": "globex-secret-3c9d41"}
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    module = definitions_module()
    defs = module.build_definitions("duckdb", sources=["leeloo"])
    assets = defs.resolve_assets_def(PEOPLE)
    assert assets.partitions_def.get_partition_keys() == ["default", "acme", "globex"]
    assert assets.node_def.pool == module.POOL
    # dagster-dlt made one asset per dlt resource
    from sources.leeloo import leeloo_source

    resources = leeloo_source(api_token="x").selected_resources  # what a run loads
    assert {k.path[-1] for k in assets.keys} == set(resources)

    schedule = defs.resolve_schedule_def("leeloo_nightly")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    night = datetime(2025, 3, 4, 3, 17, tzinfo=timezone.utc)
    context = dg.build_schedule_context(repository_def=defs.get_repository_def(), scheduled_execution_time=night)
    requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["default", "acme", "globex"]
    assert [r.tags[module.ACCOUNT_TAG] for r in requests] == ["leeloo.default", "leeloo.acme", "leeloo.globex"]
    assert len({r.run_key for r in requests}) == 3  # a tick evaluated twice launches nothing twice

    # the shipped instance settings bound accounts in flight and admit one run per account
    config = shipped_instance(tmp_path).get_concurrency_config()
    assert config.pool_config.default_pool_limit == 4
    assert {"key": module.ACCOUNT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in (
        config.run_queue_config.tag_concurrency_limits)

    from dagster._core.remote_representation.external_data import RepositorySnap

    snapshot = str(RepositorySnap.from_def(defs.get_repository_def()))
    for value in secrets.values():
        assert value not in snapshot


@pytest.mark.slow
def test_two_accounts_load_into_their_own_datasets_and_a_failed_one_fails_alone(
        dlt_env: Path, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        leeloo_accounts: LeelooAccounts) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
    emulators = leeloo_accounts({"acme": 11, "broken": 13, "globex": 12}, wrong_token="broken")
    module = definitions_module()
    defs = module.build_definitions("duckdb", sources=["leeloo"])
    instance = shipped_instance(tmp_path)
    # the automation sensor's first tick, before the night: nothing to do yet
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert tick.total_requested == 0

    results = {name: materialize_account(defs, instance, name) for name in ("acme", "broken", "globex")}

    for name in ("acme", "globex"):
        assert results[name].success, name
        truth = emulators[name].truth()
        warehouse = Warehouse("duckdb", f"leeloo_{name}", duckdb_path=duckdb_path)
        assert_matches_truth(warehouse, truth)
        metadata = people_metadata(results[name])
        # a first load reads every person once: the figure comes from chatfunnel's run, not dlt's trace
        assert metadata["rows_per_table"]["people"] == len(truth["people"])
        assert metadata["dataset"] == f"leeloo_{name}" and metadata["outcome"] == "success"
        # the run is chatfunnel's: recorded in the account's run history under the same id
        recorded = warehouse.query("select outcome from {ds}._chatfunnel_runs where run_id = "
                                   f"'{metadata['chatfunnel_run_id']}'")
        assert recorded == [("success",)]
        # and its reports were rebuilt in the account's own reports dataset
        reports = Warehouse("duckdb", f"leeloo_{name}_reports", duckdb_path=duckdb_path)
        assert "tunnel_funnel" in reports.tables()
    # the two datasets hold different data: each account was read from its own emulator
    acme_people = set(Warehouse("duckdb", "leeloo_acme", duckdb_path=duckdb_path).ids("people"))
    globex_people = set(Warehouse("duckdb", "leeloo_globex", duckdb_path=duckdb_path).ids("people"))
    assert acme_people != globex_people

    broken = results["broken"]
    assert not broken.success
    failure = step_failure(broken)
    message = failure.user_failure_data.description
    assert "leeloo/broken" in message and "SOURCES__LEELOO__ACCOUNTS__BROKEN__API_TOKEN" in message
    assert WRONG_TOKEN not in message
    assert "\n" not in message.strip()  # chatfunnel's one paragraph, not a traceback
    failed_step = failure.user_failure_data.metadata["failed_step"].value
    assert failed_step in ("config", "preflight", "extract")
    assert instance.get_materialized_partitions(PEOPLE) == {"acme", "globex"}

    # once the night's accounts are done, the automation condition asks for the cross-account views
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert tick.get_num_requested(module.VIEWS_KEY) == 1 and tick.total_requested == 1
    views_job = defs.resolve_implicit_global_asset_job_def()
    views = views_job.execute_in_process(asset_selection=[module.VIEWS_KEY], instance=instance)
    assert views.success
    accounts = Warehouse("duckdb", "leeloo_accounts", duckdb_path=duckdb_path)
    per_account = dict(accounts.query("select account, count(*) from {ds}.tunnel_funnel group by account"))
    assert set(per_account) == {"acme", "globex"}
    assert per_account["acme"] == len(emulators["acme"].truth()["tunnels"])
    assert duckdb_path.with_name(f"{duckdb_path.stem}_bi.duckdb").exists()  # the BI snapshot


def test_a_selected_subset_loads_only_those_resources(dlt_env: Path, duckdb_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     leeloo_accounts: LeelooAccounts) -> None:
    """Materialising some assets of a partition (as the UI allows) runs only their dlt
    resources for that account, through the same chatfunnel run."""
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
    emulators = leeloo_accounts({"acme": 41})
    defs = definitions_module().build_definitions("duckdb", sources=["leeloo"])
    job = defs.resolve_job_def("leeloo_accounts_load")
    wanted = [dg.AssetKey(["leeloo", "tags"]), dg.AssetKey(["leeloo", "users"])]
    result = job.execute_in_process(partition_key="acme", instance=shipped_instance(tmp_path), asset_selection=wanted)
    assert result.success
    materialized = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert set(materialized) == set(wanted)
    truth = emulators["acme"].truth()
    assert materialized[wanted[0]]["rows_loaded"].value == len(truth["tags"])
    tables = Warehouse("duckdb", "leeloo_acme", duckdb_path=duckdb_path).tables()
    assert {"tags", "users"} <= tables and "people" not in tables and "orders" not in tables


@pytest.mark.postgres
def test_two_accounts_on_postgres(dlt_env: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                  leeloo_accounts: LeelooAccounts) -> None:
    """The same partitions on Postgres; account names unique to this test keep the shared
    database's schemas apart from other tests'."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    suffix = uuid.uuid4().hex[:8]
    names = [f"a{suffix}", f"b{suffix}"]
    emulators = leeloo_accounts({names[0]: 21, names[1]: 22})
    module = definitions_module()
    defs = module.build_definitions("postgres", sources=["leeloo"])
    instance = shipped_instance(tmp_path)
    try:
        for name in names:
            assert materialize_account(defs, instance, name).success, name
            assert_matches_truth(Warehouse("postgres", f"leeloo_{name}", pg_dsn=pg_dsn), emulators[name].truth())
    finally:
        import psycopg2

        with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
            cur.execute("select nspname from pg_namespace where nspname like %s", (f"leeloo_%{suffix}%",))
            for (schema,) in cur.fetchall():
                cur.execute(f'drop schema if exists "{schema}" cascade')


def test_the_resource_takes_every_orchestrated_run_option() -> None:
    """The Dagster resource's fields are made from `RunOptions`: an option declared there
    for orchestrators is a field here, with its default, and reaches the account's run."""
    from pipelines.config.options import RunOptions, config_settings

    module = definitions_module()
    fields = module.ChatfunnelRuns.model_fields
    settings = config_settings()
    assert set(fields) == {s.name for s in settings}
    assert all(fields[s.name].default == s.default for s in settings)
    assert module.ChatfunnelRuns().options("leeloo", None, None) == RunOptions(source="leeloo", progress="none")
    given = {"destination": "postgres", "since": "2024-05-01", "until": "2024-06-01T00:00:00Z",
             "full_refresh": True, "drop_history": True, "transform": False, "max_requests": 4500,
             "concurrency": 2, "max_runtime_hours": 0.5, "wait_seconds": 30.0}
    assert set(given) == set(fields), "a new orchestrated option: give it a value here"
    options = module.ChatfunnelRuns(**given).options("leeloo", "acme", ("people",))
    assert (options.destination, options.max_requests, options.concurrency, options.max_runtime, options.wait) == (
        "postgres", 4500, 2, 1800, 30)
    assert options.since == datetime(2024, 5, 1, tzinfo=timezone.utc) and options.until.month == 6
    assert options.full_refresh and options.drop_history and not options.transform
    assert (options.account, options.resources, options.progress) == ("acme", ("people",), "none")
    # Dagster builds its config schema from those fields: the launchpad takes them
    schema = module.ChatfunnelRuns.to_config_schema().as_field().config_type
    assert set(schema.fields) == set(fields)
