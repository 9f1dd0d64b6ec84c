"""Rights a run needs, checked up front, and every refusal named: which grant, file, user.

Two kinds of right:

- **Postgres grants.** A loader role needs USAGE and CREATE on each schema of its dataset
  (`<ds>`, `<ds>_staging`, `<ds>_reports`), or CREATE on the database when a schema does
  not exist yet (chatfunnel and dlt create a schema only when it is missing).
  `missing_grants` decides from what the catalog says (a plain function); the run's
  preflight step asks the catalog (`check_postgres_grants`) before any data moves, and a
  missing right fails the run at once with the SQL a DBA runs (`GrantMissing`, exit 2),
  never "refused the data" later on. docs/postgres.md has the whole set.
- **Files.** The lock files and packages under the dlt data dir, the DuckDB file and its
  folder, `.chatfunnel/`, `.dlt/secrets.toml`: an `OSError` that is a refusal of the
  operating system becomes `FileAccessDenied` (exit 1; `ConfigUnreadable`, exit 2, for a
  settings file) naming the path, the user the process runs as, the right it lacks and
  the command that gives it.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import EXIT_USAGE, ChatfunnelError
from pipelines.warehouse.destinations import destination as described

DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)
SETTINGS_FILES = ("secrets.toml", "config.toml")
UNKNOWN_SETTINGS = "Every setting in it (tokens, credentials) stays unknown until it can be read."


class GrantMissing(ChatfunnelError):
    """The Postgres role lacks a right the run needs; a DBA grants it (exit 2)."""

    exit_code = EXIT_USAGE


class FileAccessDenied(ChatfunnelError):
    """A file or folder the run must read or write refuses this user (exit 1)."""


class ConfigUnreadable(ChatfunnelError):
    """A settings file (`.dlt/secrets.toml`, `.dlt/config.toml`) this user cannot read (exit 2)."""

    exit_code = EXIT_USAGE


# ---------------------------------------------------------------- Postgres grants


@dataclass(frozen=True)
class SchemaRights:
    """What the catalog says of one schema for the connected role."""

    exists: bool
    usage: bool = False
    create: bool = False


@dataclass(frozen=True)
class MissingGrant:
    """One right the role lacks on one object, with the SQL that gives it."""

    role: str
    rights: tuple[str, ...]
    kind: str  # "schema" or "database"
    name: str
    schema: str  # the schema the run needs (the same as `name` for a schema)

    def grant_sql(self) -> str:
        if self.kind == "database" and not self.schema:
            return f'grant {", ".join(r.lower() for r in self.rights)} on database "{self.name}" to "{self.role}"'
        if self.kind == "database":  # the schema is missing: a DBA makes it for the role
            return f'create schema "{self.schema}" authorization "{self.role}"'
        return f'grant {", ".join(r.lower() for r in self.rights)} on schema "{self.name}" to "{self.role}"'

    def describe(self) -> str:
        rights = " and ".join(self.rights)
        if self.kind == "database" and not self.schema:
            return (f"the role `{self.role}` lacks {rights} on database `{self.name}` (dlt merges nested tables "
                    f"through a temporary table): a DBA runs `{self.grant_sql()}`")
        if self.kind == "database":
            return (f"the schema `{self.schema}` does not exist and the role `{self.role}` lacks {rights} on "
                    f"database `{self.name}` to create it: a DBA runs `{self.grant_sql()}` (or "
                    f'`grant create on database "{self.name}" to "{self.role}"`)')
        return f"the role `{self.role}` lacks {rights} on schema `{self.name}`: a DBA runs `{self.grant_sql()}`"


def dataset_schemas(dataset: str, *, reports: bool = True) -> list[str]:
    """The schemas a run of `dataset` writes: the raw tables, dlt's merge staging, the reports."""
    return [dataset, f"{dataset}_staging", *([f"{dataset}_reports"] if reports else [])]


def missing_grants(role: str, database: str, schemas: Mapping[str, SchemaRights],
                   create_on_database: bool, temporary_on_database: bool = True) -> list[MissingGrant]:
    """Every right the role lacks for `schemas`, in their order. A schema that exists needs
    USAGE and CREATE on it (whoever owns it); one that does not, CREATE on the database. A
    load needs TEMPORARY on the database too."""
    missing = [] if temporary_on_database else [MissingGrant(role, ("TEMPORARY",), "database", database, "")]
    for name, rights in schemas.items():
        if not rights.exists:
            if not create_on_database:
                missing.append(MissingGrant(role, ("CREATE",), "database", database, name))
            continue
        lacking = tuple(r for r, held in (("USAGE", rights.usage), ("CREATE", rights.create)) if not held)
        if lacking:
            missing.append(MissingGrant(role, lacking, "schema", name, name))
    return missing


SCHEMA_RIGHTS_SQL = (
    "select s.name, n.oid is not null, "
    "coalesce(has_schema_privilege(n.oid, 'USAGE'), false), coalesce(has_schema_privilege(n.oid, 'CREATE'), false) "
    "from unnest(%s::text[]) with ordinality as s(name, i) left join pg_catalog.pg_namespace n on n.nspname = s.name "
    "order by s.i"
)


def postgres_missing_grants(client: Any, schemas: Iterable[str], *, load: bool = True) -> list[MissingGrant]:
    """Ask the catalog, through a dlt sql_client on Postgres, what the role lacks for `schemas`
    (and, when it loads, for dlt's temporary tables)."""
    names = list(schemas)
    role, database, create_on_database, temporary = client.execute_sql(
        "select current_user, current_database(), has_database_privilege(current_database(), 'CREATE'), "
        "has_database_privilege(current_database(), 'TEMPORARY')")[0]
    rows = client.execute_sql(SCHEMA_RIGHTS_SQL, names) or []
    found = {name: SchemaRights(bool(exists), bool(usage), bool(create)) for name, exists, usage, create in rows}
    return missing_grants(role, database, found, bool(create_on_database), bool(temporary) or not load)


def grant_error(missing: list[MissingGrant], *, step: str, consequence: str = "Nothing was loaded.") -> GrantMissing:
    """One paragraph naming every missing right and the SQL that gives it."""
    lines = "; ".join(m.describe() for m in missing)
    return GrantMissing(
        f"The Postgres role cannot do what the run needs: {lines}. {consequence} The rights a loader "
        "role needs are in docs/postgres.md.",
        step=step,
    )


def check_postgres_grants(client: Any, schemas: Iterable[str], *, step: str = "preflight",
                          consequence: str = "Nothing was loaded.", load: bool = True) -> None:
    """Raise `GrantMissing` when the connected role lacks a right on `schemas` (or, when the
    run loads, TEMPORARY on the database)."""
    missing = postgres_missing_grants(client, schemas, load=load)
    if missing:
        raise grant_error(missing, step=step, consequence=consequence)


# ---------------------------------------------------------------- files


def current_user() -> str:
    """The user this process runs as, by name when the system knows it."""
    uid = os.geteuid()
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _stat(path: Path) -> os.stat_result | None:
    """`os.stat`, or None when the path is missing or a folder on the way cannot be entered."""
    try:
        return path.stat()
    except OSError:
        return None


def _nearest(path: Path) -> Path:
    """`path` itself or the nearest folder above it this user can see."""
    probe = path
    while _stat(probe) is None and probe != probe.parent:
        probe = probe.parent
    return probe


def _owner(path: Path) -> str | None:
    """`owned by root, mode 0600` of `path`, or of the nearest folder above it one can see."""
    probe = _nearest(path)
    info = _stat(probe)
    if info is None:
        return None
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = f"uid {info.st_uid}"
    what = "" if probe == path else f"{probe}: "
    return f"{what}owned by {owner}, mode {stat.S_IMODE(info.st_mode):04o}"


def denied(exc: BaseException) -> bool:
    """The operating system refused a file operation (not: the file is missing, the disk full)."""
    return isinstance(exc, OSError) and exc.errno in DENIED


def _right(path: Path, write: bool | None) -> str:
    """`read`, `write` or `read and write`: what this user lacks on `path`, as far as it can tell."""
    if write is not None:
        return "write" if write else "read"
    probe = _nearest(path)
    lacking = [name for name, mode in (("read", os.R_OK), ("write", os.W_OK)) if not os.access(probe, mode)]
    return " and ".join(lacking) or "write"


def describe_denied(path: Path, *, what: str, write: bool | None = None, readonly_fs: bool = False,
                    reaching: Path | None = None) -> str:
    """'chatfunnel, running as svc (uid 998), cannot write the lock file /x (owned by root, mode 0644). ...'"""
    right = _right(path, write)
    owner = _owner(path)
    about = f" ({owner})" if owner else ""
    then = f", so it cannot reach {reaching}" if reaching is not None else ""
    if readonly_fs:
        fix = "The file system is mounted read-only: point it at a writable place."
    else:
        group = "g+r" if right == "read" else "g+rw"
        fix = (f"Run chatfunnel as the user that owns it, or give this user the right: "
               f"`sudo chown -R {pwd_name()} {_nearest(path)}` (or a group shared with the owner and "
               f"`chmod -R {group}`).")
    return f"chatfunnel, running as {current_user()}, cannot {right} the {what} {path}{about}{then}. {fix}"


def pwd_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def what_is(path: Path, places: Mapping[str, Path]) -> str:
    """Which of chatfunnel's places `path` is in: `lock file`, `dlt data folder`, ... ."""
    for name, place in places.items():
        if path == place or place in path.parents:
            return name
    return "file"


def file_error(exc: OSError, *, step: str | None, places: Mapping[str, Path]) -> FileAccessDenied | ConfigUnreadable:
    """A refused file operation, named: the path, the user, the right, the fix. A settings
    file is a configuration error (exit 2)."""
    path = Path(exc.filename).absolute() if exc.filename else Path.cwd()
    if path.name in SETTINGS_FILES:
        return ConfigUnreadable(f"{describe_denied(path, what='settings file', write=False)} {UNKNOWN_SETTINGS}",
                                step="config")
    refused = _nearest(path)  # a file that could not be made or seen: its folder refused
    if refused != path and _stat(refused) is not None and refused.is_dir():
        return FileAccessDenied(describe_denied(refused, what=what_is(refused, places), reaching=path,
                                                readonly_fs=exc.errno == errno.EROFS), step=step)
    return FileAccessDenied(describe_denied(path, what=what_is(path, places), readonly_fs=exc.errno == errno.EROFS),
                            step=step)


def check_writable(path: Path, *, what: str, step: str | None = None) -> None:
    """Raise `FileAccessDenied` when this user cannot write `path` (or create it in its folder)."""
    probe = _nearest(path)
    if _stat(probe) is None or os.access(probe, os.W_OK | (os.X_OK if probe.is_dir() else 0)):
        return
    label = what if probe == path else f"folder (for the {what} {path})"
    raise FileAccessDenied(describe_denied(probe, what=label, write=True), step=step)


def check_config_readable(paths: Iterable[Path]) -> None:
    """An existing settings file this user cannot read is a configuration error naming it:
    dlt skips an unreadable file silently, and every key in it would then be reported missing."""
    for path in paths:
        if _stat(path) is not None and not os.access(path, os.R_OK):
            raise ConfigUnreadable(
                f"{describe_denied(path, what='settings file', write=False)} {UNKNOWN_SETTINGS}", step="config",
            )


def data_dir() -> Path:
    """dlt's data folder, found as dlt finds it but without reading any settings file."""
    from dlt.common.runtime.run_context import global_dir

    return Path(os.environ.get("DLT_DATA_DIR") or global_dir()).absolute()


def settings_dirs() -> list[Path]:
    """The `.dlt/` folders dlt reads settings from: the project's and the global one."""
    from dlt.common.runtime.run_context import global_dir

    project = Path(os.environ.get("DLT_PROJECT_DIR") or ".").absolute() / ".dlt"
    return list(dict.fromkeys([project, Path(global_dir()).absolute()]))


def chatfunnel_places() -> dict[str, Path]:
    """chatfunnel's files and folders by what a human calls them, the most specific first."""
    from pipelines.warehouse.account_pipeline import duckdb_file

    data = data_dir()
    places = {
        "lock file": data / "locks",
        "run journal": data / "chatfunnel_runs.jsonl",
        "dlt data folder (DLT_DATA_DIR)": data,
        "report folder .chatfunnel/": Path.cwd() / ".chatfunnel",
        "dlt settings folder": settings_dirs()[0],
    }
    try:
        duckdb = duckdb_file()
    except Exception:  # noqa: BLE001 - unreadable settings: the other places still name the file
        return places
    return {"DuckDB file": duckdb, "DuckDB write-ahead log": duckdb.with_name(duckdb.name + ".wal"), **places}


def settings_files() -> list[Path]:
    """The toml files dlt reads settings from."""
    return [folder / name for folder in settings_dirs() for name in SETTINGS_FILES]


def check_settings_readable() -> None:
    """`.dlt/secrets.toml` and `.dlt/config.toml` (project and global) can be read if they are
    there; a `.dlt/` folder this user cannot enter hides them as surely (dlt sees no file)."""
    for path in settings_files():
        folder = path.parent
        if _stat(folder) is not None and folder.is_dir() and not os.access(folder, os.X_OK):
            raise ConfigUnreadable(
                f"{describe_denied(folder, what='settings folder', write=False)} {UNKNOWN_SETTINGS}", step="config")
    check_config_readable(settings_files())


def explain_denied(exc: BaseException, *, step: str | None) -> FileAccessDenied | ConfigUnreadable | None:
    """The first refused file operation in `exc`'s chain, named; None if there is none."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and denied(current):
            return file_error(current, step=step, places=chatfunnel_places())
        current = current.__cause__ or current.__context__
    return None


def check_duckdb_writable(path: Path, *, step: str | None = "preflight") -> None:
    """The DuckDB file and its folder (DuckDB writes its `.wal` file beside it) are writable."""
    check_writable(path, what="DuckDB file", step=step)
    check_writable(path.parent, what="folder of the DuckDB file (its .wal file is written there)", step=step)


def access_problem(exc: BaseException, destination: str) -> ChatfunnelError | None:
    """What a failure to open a pipeline or its warehouse comes down to when it is a right this
    user lacks: a refused file in the chain, or a DuckDB file (or its folder) it cannot write,
    which the DuckDB driver reports as a connection failure."""
    refused = explain_denied(exc, step=None)
    if refused is not None or not described(destination).file_lock:
        return refused
    from pipelines.warehouse.destinations import duckdb_file

    try:
        check_duckdb_writable(duckdb_file(), step=None)
    except FileAccessDenied as denied_file:
        return denied_file
    return None
