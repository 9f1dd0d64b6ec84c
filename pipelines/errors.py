"""Failures explained for a human, typed so that no code reads message text.

Every failure the CLI reports is a `ChatfunnelError`: `str()` is one paragraph saying what
failed and what to do, `step` names the step of the run that failed (see
`pipelines.run.steps.Step`), `exit_code` is what the process exits with. Subclasses say
what kind of failure it was; callers branch on the class, never on the text.

Exit codes: 0 success, 1 a run failed (a file the run cannot read or write included), 2 bad
usage or configuration (a settings file it cannot read, a Postgres grant missing), 74 a reader
outside chatfunnel held what the run needed (a program holding the DuckDB file, a Postgres
session holding the reports) and the run gave up waiting, 75 another run holds the lock
(EX_TEMPFAIL: try later), 130 interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 74
EXIT_LOCKED = 75
EXIT_INTERRUPTED = 130


class ChatfunnelError(Exception):
    """A failure explained for a human. `str()` is the whole message."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, step: str | None = None, requests: int = 0) -> None:
        super().__init__(message)
        self.step = step
        self.requests = requests

    def __reduce__(self) -> tuple[object, ...]:
        # picklable with its keywords, so a failure can cross a process boundary
        return (_rebuild, (type(self), str(self), self.step, self.requests))


def _rebuild(cls: type[ChatfunnelError], message: str, step: str | None, requests: int) -> ChatfunnelError:
    return cls(message, step=step, requests=requests)


class UsageError(ChatfunnelError):
    """The command line asked for something impossible (e.g. --since after --until)."""

    exit_code = EXIT_USAGE


class ConfigurationMissing(ChatfunnelError):
    """A required setting (token, key, destination credentials) is not configured."""

    exit_code = EXIT_USAGE


class InvalidConfiguration(UsageError):
    """A configured key that names no setting, or a secret where secrets are refused."""


class DuckDBFileNamedLikeSchema(UsageError):
    """The DuckDB file's name (up to its first dot, the catalog DuckDB names after it) equals a
    schema the run writes: DuckDB cannot tell `<name>.<table>` the catalog from the schema, so
    every load would fail after the whole extract."""

    def __init__(self, message: str, *, path: str = "", schema: str = "", step: str | None = None,
                 requests: int = 0) -> None:
        super().__init__(message, step=step, requests=requests)
        self.path, self.schema = path, schema


class SourceRefused(ChatfunnelError):
    """The API refused the credentials."""


class SourceUnreachable(ChatfunnelError):
    """The API did not answer at all."""


class SourceFailed(ChatfunnelError):
    """The API answered with errors that retries did not cure."""


class DestinationUnreachable(ChatfunnelError):
    """The warehouse could not be opened or connected to."""


class DestinationFull(ChatfunnelError):
    """A disk filled up (the dlt folder or a file-based warehouse)."""


class LoadFailed(ChatfunnelError):
    """dlt could not load the extracted data."""


class ReportsFailed(ChatfunnelError):
    """A report model did not build or a data test failed; the raw data is loaded."""


class PublishFailed(ChatfunnelError):
    """The BI snapshot could not be published; the load and the reports are fine."""


class DeadlineExceeded(ChatfunnelError):
    """The run reached --max-runtime and stopped (exits like an interruption; it is alerted)."""

    exit_code = EXIT_INTERRUPTED


class WarehouseHeld(ChatfunnelError):
    """Another program (a BI tool, a notebook) has the DuckDB file open; DuckDB lets no run in."""

    exit_code = EXIT_BLOCKED


class SessionBlocked(ChatfunnelError):
    """A Postgres session (a reader) held a lock past the run's lock deadline: the data is
    loaded, the previous reports stay, the next run does what this one could not."""

    exit_code = EXIT_BLOCKED


class RunLocked(ChatfunnelError):
    """Another run holds the lock. Nothing was done by this one."""

    exit_code = EXIT_LOCKED


class Interrupted(ChatfunnelError):
    """Ctrl-C or SIGTERM ended the run; what was committed stays, the rest is redone."""

    exit_code = EXIT_INTERRUPTED
