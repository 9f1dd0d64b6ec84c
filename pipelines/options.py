"""What a user asked one run to do, independent of which source runs."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .accounts import Account

PROGRESS_MODES = ("auto", "log", "none")
DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def dataset_name(value: str) -> str:
    """A --dataset: a plain lower-case identifier, so that it is the same schema on every
    destination and never needs quoting (`leeloo.duckdb` is a file, not a dataset)."""
    if not DATASET_NAME.match(value):
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a dataset name: use lower-case letters, digits and underscores, starting "
            "with a letter, at most 63 characters (e.g. leeloo or leeloo_acme)")
    return value


@dataclass(frozen=True)
class RunOptions:
    source: str
    account: str | None = None
    destination: str = "duckdb"
    dataset: str | None = None
    resources: tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    full_refresh: bool = False
    drop_history: bool = False  # with full_refresh: drop what the API cannot give back too
    transform: bool = True
    progress: str = "auto"
    max_requests: int | None = None
    concurrency: int | None = None
    max_runtime: float | None = None
    wait: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> Account:
        return Account(self.source, self.account)

    @property
    def dataset_name(self) -> str:
        return self.dataset or self.target.dataset

    @property
    def backfill(self) -> bool:
        return self.since is not None or self.until is not None

    def for_account(self, account: Account) -> RunOptions:
        return replace(self, source=account.source, account=account.name)

    def source_overrides(self) -> dict[str, Any]:
        """Source arguments the command line sets; unset ones are left to the config."""
        given = {
            "since": self.since,
            "until": self.until,
            "max_requests": self.max_requests,
            "concurrency": self.concurrency,
        }
        return {**{k: v for k, v in given.items() if v is not None}, **self.extra}
