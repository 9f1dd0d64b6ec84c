"""What went wrong, in one paragraph a human can act on, decided by the types of the failure.

`explain` walks the exception chain and maps what it finds — our HTTP errors, dlt's
configuration and destination exceptions, the database drivers' errors, a full disk — to a
`ChatfunnelError` subclass carrying the failed step. The paragraph says only what was
checked: whether anything was committed is stated by the lifecycle, which knows.
"""

from __future__ import annotations

import errno
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
    ValueNotSecretException,
)
from dlt.common.destination.exceptions import DestinationTerminalException, DestinationTransientException

from pipelines.config.accounts import Account
from pipelines.config.redaction import scrub
from pipelines.errors import (
    ChatfunnelError,
    ConfigurationMissing,
    DestinationFull,
    DestinationUnreachable,
    InvalidConfiguration,
    LoadFailed,
    SourceFailed,
    SourceRefused,
    SourceUnreachable,
    UsageError,
    WarehouseHeld,
)
from pipelines.warehouse.destinations import destination as described
from pipelines.warehouse.permissions import explain_denied
from sources.http import ApiError, ApiUnreachable, AuthError, Forbidden

LOW_DISK_BYTES = 64 * 1024 * 1024


def causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def short(text: object, limit: int = 600) -> str:
    """One line, at most `limit` characters, cut at a word."""
    flat = " ".join(scrub(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


DRIVER_PACKAGES = ("psycopg2", "duckdb")  # the database drivers' own packages, whose errors name the database


def _database_error(exc: BaseException) -> bool:
    module = type(exc).__module__.split(".")[0]
    return module in DRIVER_PACKAGES or isinstance(
        exc, DestinationTransientException | DestinationTerminalException)


def _driver_connection_error(exc: BaseException) -> bool:
    try:
        import psycopg2

        if isinstance(exc, psycopg2.OperationalError):
            return True
    except ImportError:  # pragma: no cover - psycopg2 comes with dlt[postgres]
        pass
    try:
        import duckdb

        if isinstance(exc, duckdb.IOException | duckdb.ConnectionException):
            return True
    except ImportError:  # pragma: no cover
        pass
    return False


def _connection_error(chain: list[BaseException]) -> bool:
    """The database could not be reached or opened at all (as opposed to refusing a statement).

    The driver's own error decides when it is in the chain: dlt calls every InternalError
    (a trigger, a deadlock) transient, and that is no reason to check the credentials. A
    load job's failure reaches us as text only; then dlt's transient class is all there is."""
    drivers = [c for c in chain if type(c).__module__.split(".")[0] in DRIVER_PACKAGES]
    if drivers:
        return any(_driver_connection_error(c) for c in drivers)
    return any(isinstance(c, DestinationTransientException) for c in chain)


# DuckDB says who holds its file only in the text of an IOException (no code, no field)
DUCKDB_FILE_HELD = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)')


def duckdb_file_holder(exc: BaseException) -> dict[str, str] | None:
    """The program that has a DuckDB file open, when that is why `exc` happened: {file,
    program, pid}; None otherwise. DuckDB reports it only as text, so this is the one place
    that reads it (its IOException, or dlt's exception carrying that text from a load job)."""
    import duckdb

    for cause in causes(exc):
        if not isinstance(cause, duckdb.Error | DestinationTransientException | DestinationTerminalException):
            continue
        match = DUCKDB_FILE_HELD.search(str(cause))
        if match:
            return match.groupdict()
    return None


def warehouse_held(holder: dict[str, str], *, step: str) -> WarehouseHeld:
    """The DuckDB file is open in another program: who, and where BI tools should look instead."""
    from pipelines.warehouse.publish import bi_path_for

    program = Path(holder["program"]).name or holder["program"]
    return WarehouseHeld(
        f"The DuckDB file {holder['file']} is held by another program ({program}, pid {holder['pid']}): a BI "
        "tool, a notebook or a shell has it open, and DuckDB lets no other process use a file while one holds "
        f"it. Close that program (or its connection) and run again. BI tools should open the snapshot "
        f"{bi_path_for(holder['file'])} instead: every run refreshes it, and reading it never blocks a run.",
        step=step,
    )


def full_disk(paths: list[Path]) -> Path | None:
    """The first of `paths` whose disk is (nearly) full."""
    for path in paths:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            if shutil.disk_usage(probe).free < LOW_DISK_BYTES:
                return path
        except OSError:
            continue
    return None


def explain(
    exc: BaseException,
    *,
    step: str,
    account: Account,
    secret_env: str,
    destination: str,
    disks: list[Path],
) -> ChatfunnelError:
    """Turn whatever went wrong in `step` into one paragraph a human can act on.

    The checks run from the most specific to the least: an error already explained, a file
    the run may not touch, a full disk, the source or the configuration, the destination."""
    for cause in causes(exc):
        if isinstance(cause, ChatfunnelError):
            if cause.step is None:
                cause.step = step
            return cause
    denied_file = explain_denied(exc, step=step)
    if denied_file is not None:
        return denied_file
    chain = list(causes(exc))
    for cause in chain:
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return _disk_full(step, Path(cause.filename) if cause.filename else None, disks)
    for cause in chain:
        known = _source_or_configuration_error(cause, step=step, account=account, secret_env=secret_env,
                                               destination=destination)
        if known is not None:
            return known
    destination_error = _destination_error(exc, chain, step=step, destination=destination, disks=disks)
    if destination_error is not None:
        return destination_error
    disk = full_disk(disks) if any(isinstance(c, OSError) for c in chain) else None
    if disk is not None:
        return _disk_full(step, disk, disks)
    root = _root(exc)
    return ChatfunnelError(
        f"The {account.label} run failed in the {step} step: {type(root).__name__}: {short(root)}. If it repeats, "
        "run with -v and report the message.",
        step=step,
    )


def _source_or_configuration_error(
    cause: BaseException, *, step: str, account: Account, secret_env: str, destination: str
) -> ChatfunnelError | None:
    """`cause` said as the API's refusal or failure, or as a missing or wrong setting; None
    when it is neither (the next cause in the chain may be)."""
    label = account.label
    url_env = account.env_prefix + "BASE_URL"
    if isinstance(cause, Forbidden):
        return SourceRefused(
            f"The {label} API refused access ({short(cause)}). The credentials in {secret_env} were "
            "accepted but lack a permission this run needs.",
            step=step,
        )
    if isinstance(cause, AuthError):
        return SourceRefused(
            f"The {label} API refused the credentials ({short(cause)}). Check {secret_env} or "
            f"[{account.config_path}] in .dlt/secrets.toml.",
            step=step,
        )
    if isinstance(cause, ApiUnreachable):
        return SourceUnreachable(
            f"The {label} API could not be reached ({short(cause)}). Check the network and the "
            f"base URL ({url_env}).",
            step=step,
        )
    if isinstance(cause, ApiError):
        hint = (
            f" A 404 for a documented endpoint usually means a wrong base URL: check {url_env} "
            "(it is the server's root, e.g. https://api.leeloo.ai, without /api)."
            if cause.status == 404 else " Retries did not help."
        )
        return SourceFailed(f"The {label} API kept failing ({short(cause)}).{hint}", step=step)
    if isinstance(cause, ConfigFieldMissingException):
        return missing_configuration(cause, step=step, account=account, secret_env=secret_env,
                                     destination=destination)
    if isinstance(cause, ConfigValueCannotBeCoercedException):
        return invalid_setting(cause, step=step, account=account)
    if isinstance(cause, ValueNotSecretException):
        return secret_in_config(cause, step=step)
    return None


def _destination_error(
    exc: BaseException, chain: list[BaseException], *, step: str, destination: str, disks: list[Path]
) -> ChatfunnelError | None:
    """The warehouse file held by another program, or the database's own error said as what
    to check: its disk, its credentials and server, or what it refused; None otherwise."""
    holder = duckdb_file_holder(exc)
    if holder is not None:
        return warehouse_held(holder, step=step)
    database = next((c for c in chain if _database_error(c)), None)
    if database is None:
        return None
    disk = full_disk(disks)
    if disk is not None:
        return _disk_full(step, disk, disks)
    if step in ("preflight", "record") or _connection_error(chain):
        return DestinationUnreachable(
            f"The {destination} destination could not be used: {short(_root(database))}. Check "
            f"DESTINATION__{destination.upper()}__CREDENTIALS and that the server is up.",
            step=step,
        )
    refused = "to mark the deletions this run proved" if step == "reconcile" else "the data"
    return LoadFailed(f"The {destination} destination refused {refused}: {short(_root(database))}.", step=step)


def _root(exc: BaseException) -> BaseException:
    """The innermost cause: dlt wraps driver errors in two or three layers of its own, and a
    failed load job's own exception is kept beside them (`client_exception`), its text after
    dlt's copy of the job's traceback."""
    chain = list(causes(exc))
    root = chain[-1] if chain else exc
    job_error = getattr(root, "client_exception", None)
    if isinstance(job_error, BaseException) and job_error not in chain:
        return _root(job_error)
    return root


def _disk_full(step: str, where: Path | None, disks: list[Path]) -> DestinationFull:
    """The error's file names the disk only when that disk is the full one: dlt writes a
    merge's SQL to the temp folder and moves it into the package, and a move onto a full
    disk fails naming the temp file, on a disk with room."""
    named = [where] if where is not None else []
    place = full_disk([*named, *disks]) or next(iter([*named, *disks]), Path("."))
    try:
        free = shutil.disk_usage(place if place.exists() else place.parent).free // (1024 * 1024)
        room = f" ({free} MB free)"
    except OSError:
        room = ""
    return DestinationFull(
        f"The disk holding {place} is full{room}. Free space there (or point DLT_DATA_DIR / the DuckDB "
        "file elsewhere) and run again.",
        step=step,
    )


def missing_configuration(
    exc: ConfigFieldMissingException, *, step: str, account: Account, secret_env: str, destination: str
) -> ConfigurationMissing:
    missing = ", ".join(exc.fields)
    if step != "config":  # the source's settings resolve in the config step, the destination's after it
        env = f"DESTINATION__{destination.upper()}__{described(destination).location_setting}"
        return ConfigurationMissing(
            f"The {destination} destination is not configured (missing: {missing}). Set {env} in the "
            f"environment or [destination.{destination}] in .dlt/secrets.toml (see README, Configuration).",
            step=step,
        )
    return ConfigurationMissing(
        f"Missing configuration for {account.label}: {missing}. Set {secret_env} in the environment or put "
        f"it under [{account.config_path}] in .dlt/secrets.toml (see README, Configuration).",
        step=step,
    )


def invalid_setting(exc: ConfigValueCannotBeCoercedException, *, step: str, account: Account) -> UsageError:
    """A setting whose value is not of its type (`sweep_runs = "abc"`), named with where to fix it."""
    field = exc.field_name
    kind = getattr(exc.hint, "__name__", str(exc.hint))
    where = (f"{account.env_prefix}{field.upper()} or {field} under [{account.config_path}] in .dlt/config.toml"
             if step == "config" else "the environment variable or .dlt/config.toml entry that sets it")
    return UsageError(
        f"The setting {field} is {short(repr(exc.field_value), 80)}, which is not a valid {kind}. Fix {where}.",
        step=step,
    )


def secret_in_config(exc: ValueNotSecretException, *, step: str) -> InvalidConfiguration:
    """dlt's refusal of a secret it found in config.toml, said as what to do (it was 'failed in
    the config step: ValueNotSecretException ... report the message')."""
    env = exc.key.replace(".", "__").upper()
    return InvalidConfiguration(
        f"{exc.key} is a secret but is set in .dlt/config.toml, where dlt never reads secrets: move it to "
        f".dlt/secrets.toml (same section) or the environment variable {env}.",
        step=step,
    )
