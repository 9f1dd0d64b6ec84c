"""What a user asked a run to do, independent of which source runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from dlt.sources import DltSource

from .errors import ChatfunnelError


@dataclass
class RunOptions:
    source: str
    destination: str = "duckdb"
    dataset: str | None = None
    resources: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    full_refresh: bool = False
    transform: bool = True
    progress: str = "log"
    max_requests: int | None = None
    concurrency: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def dataset_name(self) -> str:
        return self.dataset or self.source

    def source_kwargs(self) -> dict[str, Any]:
        """Arguments every chatfunnel source takes; unset ones are left to dlt's config."""
        given = {
            "since": self.since,
            "until": self.until,
            "max_requests": self.max_requests,
            "concurrency": self.concurrency,
        }
        return {**{k: v for k, v in given.items() if v is not None}, **self.extra}


def select_resources(
    source: DltSource, names: list[str] | None, aliases: Mapping[str, str] | None = None
) -> DltSource:
    """Keep only the named resources; an alias names the resource that loads a table."""
    if not names:
        return source
    wanted = [dict(aliases or {}).get(name, name) for name in names]
    unknown = [name for name in wanted if name not in source.resources]
    if unknown:
        available = sorted(set(source.resources) | set(aliases or {}))
        raise ChatfunnelError(
            f"Unknown {source.name} resource(s): {', '.join(unknown)}. "
            f"Available: {', '.join(available)}."
        )
    return source.with_resources(*dict.fromkeys(wanted))
