"""chatfunnel's own settings, resolved by dlt like every other setting.

`[chatfunnel]` in `.dlt/config.toml` (or `CHATFUNNEL__<KEY>` in the environment) holds how a
run is operated; `[alerts]` whether successes are reported too. The incoming-webhook URL
for alerts is dlt's own `runtime.slack_incoming_hook` secret.
"""

from __future__ import annotations

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration, RuntimeConfiguration


@configspec
class OperationsConfiguration(BaseConfiguration):
    bi_path: str | None = None
    """Where BI tools read the DuckDB snapshot; default `<working stem>_bi.duckdb` beside it."""
    lake_duckdb: str | None = None
    """The DuckDB file the Parquet lake's reports are built in; default `chatfunnel_lake.duckdb`."""
    max_runtime_hours: float = 6.0
    """A run that has not finished after this long stops cleanly (`--max-runtime` overrides)."""
    stop_grace_seconds: float = 15.0
    """After SIGTERM/SIGINT or the deadline, how long a run may take to stop before it exits hard."""
    postgres_connect_timeout_seconds: int = 15
    postgres_statement_timeout_seconds: int = 3600
    postgres_idle_in_transaction_timeout_seconds: int = 600
    postgres_tcp_user_timeout_seconds: int = 60
    """A Postgres connection whose packets go unacknowledged this long (a dropped network) fails."""
    postgres_silence_seconds: float = 3660.0
    """A Postgres server that sends nothing back this long after a request is treated as gone
    (keep it above the statement timeout: a legitimate statement never waits longer)."""
    postgres_lock_wait_seconds: float = 0.0
    """How long a run waits for another host's run of the same dataset (0: exit 75 at once)."""
    postgres_lock_timeout_seconds: float = 5.0
    """A report rebuild or deletion mark waits this long for a lock a reader holds, then
    gives up, rolls back (readers keep the previous reports) and tries again later."""
    postgres_lock_deadline_seconds: float = 300.0
    """Those tries go on, with growing pauses, this long; then the run ends (exit 74) naming
    the session that holds the lock, with the data loaded and the previous reports kept."""


@configspec
class AlertsConfiguration(BaseConfiguration):
    on_success: bool = False
    """Post successful and partial runs too, not only failures."""


def operations() -> OperationsConfiguration:
    return resolve_configuration(OperationsConfiguration(), sections=("chatfunnel",))


def alerts() -> AlertsConfiguration:
    return resolve_configuration(AlertsConfiguration(), sections=("alerts",))


def slack_incoming_hook() -> str | None:
    """dlt's own `runtime.slack_incoming_hook` (a secret)."""
    hook = resolve_configuration(RuntimeConfiguration()).slack_incoming_hook
    return str(hook) if hook else None
