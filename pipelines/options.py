"""What a user asked a run to do, independent of which source runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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

    @property
    def is_backfill(self) -> bool:
        """A --since/--until window: loads data without moving the nightly cursor."""
        return self.since is not None or self.until is not None
