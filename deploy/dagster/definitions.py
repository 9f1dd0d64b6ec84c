"""Dagster: chatfunnel's accounts as partitions of dagster-dlt assets.

Load it from the chatfunnel project folder (the one with `.dlt/`), with the instance
settings of `dagster.yaml` beside this file in `$DAGSTER_HOME`:

    pip install 'chatfunnel[dagster]'
    dagster dev -f deploy/dagster/definitions.py

What it defines, per configured source (Leeloo, Salebot):
- `<source>/<resource>` assets, one per dlt resource, made by dagster-dlt's `@dlt_assets`
  and partitioned by account (one static partition per configured account, `default`
  for the unnamed one). Reload the code location after adding an account.
- The asset body runs `pipelines.run.lifecycle.run_account`, the code path of
  `chatfunnel run <source> --account NAME`, not dagster-dlt's `DagsterDltResource.run`:
  a chatfunnel run is more than `pipeline.run` (the account's lock, recovery after a
  crash, deletions, the reports, the run record, the alert), and dagster-dlt's resource
  drops the local pipeline state before every run, which skips that recovery.
  Materializations carry what the run reported (rows per table, requests, incomplete
  resources); a failed account fails its own partition with chatfunnel's message.
- `<source>_accounts_load`, a job over those assets, and `<source>_nightly`, a schedule
  that asks for one run per account every night.
- `cross_account_views`: after the accounts of a night are done, the cross-account views
  (`<source>_accounts`) and, on DuckDB, the BI snapshot.
All account runs use the `chatfunnel` pool: its limit in `dagster.yaml` bounds how many
accounts load at once on the instance; the run queue there lets one run per account in.
"""

# no `from __future__ import annotations`: Dagster reads the asset functions' annotations
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_dlt import DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.common.schema.utils import get_root_table

from pipelines.config.accounts import Account
from pipelines.config.options import RunOptions, config_settings, options_from_config
from pipelines.config.registry import SOURCES, SourceSpec
from pipelines.errors import ConfigurationMissing, SourceRefused, UsageError
from pipelines.run.fleet import after_all_accounts
from pipelines.run.lifecycle import RunOutcome, run_account
from pipelines.warehouse.account_pipeline import make_pipeline

if TYPE_CHECKING:  # what `define_asset_job` returns has no public name
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

POOL = "chatfunnel"
NIGHTLY_CRON = "17 3 * * *"
DEFAULT_ACCOUNT = "default"  # the unnamed account's partition, as in `chatfunnel run leeloo --account default`
ACCOUNT_TAG = "chatfunnel/account"
RESOURCE_KEY = "chatfunnel"
VIEWS_KEY = dg.AssetKey(["chatfunnel", "cross_account_views"])


def partition_key(account: Account) -> str:
    return account.name or DEFAULT_ACCOUNT


def account_name(key: str) -> str | None:
    return None if key == DEFAULT_ACCOUNT else key


# ---------------------------------------------------------------- one account's run


class ChatfunnelRunsBase(dg.ConfigurableResource):
    """Runs accounts the way `chatfunnel run <source> --account NAME` does.

    Its settings are the run options an orchestrator sets (`config_settings`, declared with
    `RunOptions`), added by `ChatfunnelRuns` below; the source settings (tokens, base URL,
    rate limit) come from `.dlt/secrets.toml` and the environment, as for the CLI.
    """

    def settings(self) -> dict[str, Any]:
        return {setting.name: getattr(self, setting.name) for setting in config_settings()}

    def options(self, source: str, account: str | None, resources: tuple[str, ...] | None) -> RunOptions:
        return options_from_config(self.settings(), source, account, resources=resources)

    def run(self, context: dg.AssetExecutionContext, source: str) -> Iterator[dg.MaterializeResult]:
        """Run the partition's account; one materialization per selected asset, or
        `dagster.Failure` with chatfunnel's message when the account failed."""
        account = Account(source, account_name(context.partition_key))
        # a subset selected in the UI runs only those resources, as dagster-dlt does
        resources = tuple(key.path[-1] for key in context.selected_asset_keys) if context.is_subset else None
        outcome = run_account(self.options(source, account.name, resources), publish=False)
        for warning in outcome.warnings:
            context.log.warning(f"{account.label}: {warning}")
        if outcome.error is not None:
            # a wrong token or setting does not cure itself: retry policies skip it
            lasting = isinstance(outcome.error, ConfigurationMissing | UsageError | SourceRefused)
            raise dg.Failure(description=str(outcome.error), metadata=failure_metadata(outcome),
                             allow_retries=not lasting)
        tables = tables_by_resource(outcome)
        for key in sorted(context.selected_asset_keys):
            yield dg.MaterializeResult(asset_key=key, metadata=materialization_metadata(outcome, key.path[-1], tables))


def runs_resource_class() -> type[ChatfunnelRunsBase]:
    """`ChatfunnelRunsBase` with one config field per orchestrated run option, so that an
    option declared in `RunOptions` is a Dagster setting without being spelled here."""
    settings = config_settings()
    namespace: dict[str, Any] = {setting.name: setting.default for setting in settings}
    namespace["__annotations__"] = {setting.name: setting.kind for setting in settings}
    namespace["__module__"] = __name__
    namespace["__doc__"] = ChatfunnelRunsBase.__doc__
    return type("ChatfunnelRuns", (ChatfunnelRunsBase,), namespace)


ChatfunnelRuns = runs_resource_class()


def run_metadata(outcome: RunOutcome) -> dict[str, Any]:
    """What every asset of one account's run shares."""
    metadata: dict[str, Any] = {
        "account": outcome.account.label,
        "dataset": outcome.dataset,
        "destination": outcome.destination,
        "outcome": outcome.outcome,
        "api_requests": dg.MetadataValue.int(outcome.requests),
        "seconds": dg.MetadataValue.float(round(outcome.seconds, 1)),
        "chatfunnel_run_id": outcome.run_id,
    }
    if outcome.load_id:
        metadata["dlt_load_id"] = outcome.load_id
    recovered = outcome.recovery.describe()
    if recovered:
        metadata["recovered"] = recovered
    if outcome.reports is not None:
        metadata["reports"] = str(outcome.reports)
    return metadata


def failure_metadata(outcome: RunOutcome) -> dict[str, Any]:
    error = outcome.error
    assert error is not None
    return {**run_metadata(outcome), "failed_step": str(error.step or "unknown"), "error_type": type(error).__name__,
            "exit_code": dg.MetadataValue.int(error.exit_code)}


@dataclass(frozen=True)
class ResourceTables:
    """The tables one dlt resource loads (its own, its nested ones, its variants) and their
    columns, as the account's dlt schema has them."""

    tables: tuple[str, ...]
    columns: Mapping[str, Mapping[str, Any]]


def tables_by_resource(outcome: RunOutcome) -> dict[str, ResourceTables]:
    pipeline = make_pipeline(outcome.account, outcome.destination, outcome.dataset)
    if not pipeline.default_schema_name:
        return {}
    schema = pipeline.default_schema
    grouped: dict[str, list[str]] = {}
    for table in schema.data_table_names():
        resource = get_root_table(schema.tables, table).get("resource") or table
        grouped.setdefault(resource, []).append(table)
    return {resource: ResourceTables(tuple(sorted(names)),
                                     schema.get_table_columns(resource) if resource in names else {})
            for resource, names in grouped.items()}


def materialization_metadata(outcome: RunOutcome, resource: str,
                             tables: Mapping[str, ResourceTables]) -> dict[str, Any]:
    own = tables.get(resource, ResourceTables((resource,), {}))
    rows = {table: outcome.rows.get(table, 0) for table in own.tables}
    metadata = {
        **run_metadata(outcome),
        # dagster-dlt's own name for the figure, so dashboards built for it read ours
        "rows_loaded": dg.MetadataValue.int(sum(rows.values())),
        "rows_per_table": dg.MetadataValue.json(rows),
        "incomplete": resource in outcome.incomplete,
        "dagster/table_name": f"{outcome.dataset}.{resource}",
    }
    if own.columns:
        metadata["dagster/column_schema"] = dg.TableSchema(columns=[
            dg.TableColumn(name=name, type=str(column.get("data_type", "unknown")),
                           constraints=dg.TableColumnConstraints(nullable=bool(column.get("nullable", True))))
            for name, column in own.columns.items()
        ])
    return metadata


# ---------------------------------------------------------------- the assets


@dataclass
class ChatfunnelTranslator(DagsterDltTranslator):
    """dagster-dlt's asset per dlt resource, keyed `<source>/<resource>` and grouped by source.

    No upstream assets: the API is not something Dagster materializes."""

    source: str = "leeloo"

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(key=dg.AssetKey([self.source, data.resource.name]), deps=[],
                                       group_name=self.source)


def shape_source(spec: SourceSpec) -> Any:
    """The source's dlt resources, for their names and hints only: built without any
    account's secret, so no secret is read when the code location loads."""
    return spec.factory(**dict.fromkeys(spec.secret_keys, "not-used-to-define-assets"))


def account_assets(spec: SourceSpec, accounts: Sequence[Account], destination: str) -> dg.AssetsDefinition:
    partitions = dg.StaticPartitionsDefinition([partition_key(a) for a in accounts])

    @dlt_assets(
        dlt_source=shape_source(spec),
        dlt_pipeline=make_pipeline(accounts[0], destination),
        name=f"{spec.name}_accounts",
        partitions_def=partitions,
        dagster_dlt_translator=ChatfunnelTranslator(source=spec.name),
        pool=POOL,
        op_tags={"chatfunnel/source": spec.name},
    )
    def load(context: dg.AssetExecutionContext, chatfunnel: ChatfunnelRunsBase) -> Iterator[dg.MaterializeResult]:
        """One account: lock, recover, extract, load, reconcile, reports, record, alert."""
        yield from chatfunnel.run(context, spec.name)

    return load


def accounts_job(spec: SourceSpec, assets: dg.AssetsDefinition) -> "UnresolvedAssetJobDefinition":
    partitions = assets.partitions_def
    assert isinstance(partitions, dg.StaticPartitionsDefinition)
    return dg.define_asset_job(
        f"{spec.name}_accounts_load",
        selection=dg.AssetSelection.assets(assets),
        description=f"Load one {spec.title} account (the partition) as `chatfunnel run {spec.name} --account` does.",
        # every run of an account carries its name, so the run queue admits one per account
        config=dg.PartitionedConfig(
            partitions_def=partitions,
            run_config_for_partition_key_fn=lambda _key: {},
            tags_for_partition_key_fn=lambda key: {ACCOUNT_TAG: f"{spec.name}.{key}"},
        ),
    )


def nightly_schedule(spec: SourceSpec, job: "UnresolvedAssetJobDefinition", keys: Sequence[str],
                     cron: str) -> dg.ScheduleDefinition:
    @dg.schedule(name=f"{spec.name}_nightly", cron_schedule=cron, job=job, execution_timezone="UTC",
                 default_status=dg.DefaultScheduleStatus.RUNNING)
    def nightly(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        """Every account of the source, once a night; the pool decides how many run at once."""
        night = context.scheduled_execution_time.strftime("%Y-%m-%d")
        return [dg.RunRequest(run_key=f"{night}.{key}", partition_key=key) for key in keys]

    return nightly


def cross_account_views(upstream: Sequence[dg.AssetsDefinition]) -> dg.AssetsDefinition:
    # after an account loaded, once no account of the night is still queued or running
    condition = (dg.AutomationCondition.any_deps_updated().since_last_handled()
                 & ~dg.AutomationCondition.any_deps_in_progress() & ~dg.AutomationCondition.in_progress())

    @dg.asset(key=VIEWS_KEY, deps=[key for assets in upstream for key in assets.keys], group_name="chatfunnel",
              automation_condition=condition, pool=POOL, kinds={"chatfunnel"})
    def views(context: dg.AssetExecutionContext, chatfunnel: ChatfunnelRunsBase) -> dg.MaterializeResult:
        """`<source>_accounts`: one view per report, the union over the accounts; then the
        DuckDB BI snapshot. The accounts' own loads are done and stay so whatever happens here."""
        after = after_all_accounts(chatfunnel.settings()["destination"], (), publish=True)
        for line in after.lines:
            context.log.info(line)
        if after.failures:
            raise dg.Failure(description=str(after.failures[0]), allow_retries=False)
        return dg.MaterializeResult(metadata={"summary": dg.MetadataValue.md("\n".join(f"- {x}" for x in after.lines))})

    return views


def build_definitions(destination: str | None = None, *, sources: Sequence[str] | None = None,
                      cron: str | None = None) -> dg.Definitions:
    """Everything above for the configured accounts of `sources` (default: every source
    with an account configured)."""
    destination = destination or os.environ.get("CHATFUNNEL_DESTINATION", "duckdb")
    cron = cron or os.environ.get("CHATFUNNEL_NIGHTLY_CRON", NIGHTLY_CRON)
    specs = [SOURCES[name] for name in sources] if sources else list(SOURCES.values())
    assets, jobs, schedules = [], [], []
    for spec in specs:
        accounts = spec.accounts()
        if not accounts:
            continue
        load = account_assets(spec, accounts, destination)
        job = accounts_job(spec, load)
        assets.append(load)
        jobs.append(job)
        schedules.append(nightly_schedule(spec, job, [partition_key(a) for a in accounts], cron))
    if not assets:
        names = ", ".join(f"[sources.{s.name}.accounts.<name>] {s.secret_keys[0]}" for s in specs)
        raise ConfigurationMissing(
            f"No account is configured for Dagster to load: put {names} in .dlt/secrets.toml of the folder "
            "Dagster runs in (or set the matching SOURCES__... environment variables), then reload.",
            step="config")
    views = cross_account_views(assets)
    sensor = dg.AutomationConditionSensorDefinition(
        "chatfunnel_cross_account_views", target=dg.AssetSelection.assets(views),
        default_status=dg.DefaultSensorStatus.RUNNING)
    return dg.Definitions(
        assets=[*assets, views], jobs=jobs, schedules=schedules, sensors=[sensor],
        resources={RESOURCE_KEY: ChatfunnelRuns(destination=destination)},  # type: ignore[call-arg]  # made from RunOptions
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
