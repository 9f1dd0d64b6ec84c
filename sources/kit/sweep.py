"""Which known entities a run re-verifies although nothing it listed says they changed.

The lists cannot show everything: a reply or a broadcast does not move `lastMessageTime`
under the documents' own definition of it, a CRM edit moves nothing a list shows, and a
listing that could not be proved complete may have skipped someone. So every known
entity is re-verified at least once every `sweep_runs` runs, whatever the lists say:

- *due*: the entities verified longest ago, `ceil(known / sweep_runs)` of them per run
  (more when earlier runs fell behind: everything older than `sweep_runs` runs). Run
  after run this is a round robin, so every entity comes up within `sweep_runs` runs,
  spread evenly; a run the budget cut short leaves the rest at the front of the queue,
  so the next run resumes where it stopped;
- *follow-ups*: entities whose last known activity is newer than the start of the run
  before the previous one, i.e. whose news the previous run read. Replies and CRM edits
  cluster right after a subscriber writes, so these are re-checked at the next run
  instead of within the period.

Entities verified this run anyway (their list entry changed) are not swept again.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sources.bookkeeping import Entry
from sources.kit.values import parse_time

K = TypeVar("K", int, str)  # an entity id


def sweep_quota(known: int, sweep_runs: int) -> int:
    """Entities a run sweeps so that `known` of them all come up within `sweep_runs` runs."""
    return math.ceil(known / sweep_runs) if sweep_runs > 0 and known > 0 else 0


def least_recently_verified(verified_runs: Mapping[K, int | None], count: int,
                            skip: Collection[K] = ()) -> list[K]:
    """The `count` entities verified longest ago (never verified first; ties by id): the
    round robin that brings every entity up within `sweep_runs` runs."""
    queue = sorted((entity for entity in verified_runs if entity not in skip),
                   key=lambda entity: (verified_runs[entity] or 0, entity))
    return queue[:count]


@dataclass
class SweepPlan:
    follow_ups: list[str] = field(default_factory=list)
    due: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[str]:
        yield from self.follow_ups
        yield from self.due

    def __len__(self) -> int:
        return len(self.follow_ups) + len(self.due)


def plan_sweep(
    entries: Mapping[str, Entry],
    run: int,
    sweep_runs: int,
    *,
    done: Collection[str] = (),
    active_since: datetime | None = None,
) -> SweepPlan:
    """The follow-ups and the due entities of this run (see the module docstring).

    `entries[id].mark` is the entity's last known activity time; `verified_run` the run
    that last verified it."""
    if sweep_runs <= 0 or not entries:
        return SweepPlan()
    follow_ups: list[str] = []
    queue: list[tuple[int, str]] = []
    for entity, entry in entries.items():
        if entity in done:
            continue
        active = parse_time(entry.mark) if entry.mark else None
        if active_since is not None and active is not None and active >= active_since:
            follow_ups.append(entity)
        else:
            queue.append((entry.verified_run or 0, entity))
    queue.sort()
    quota = sweep_quota(len(entries), sweep_runs)
    overdue = sum(1 for verified, _ in queue if run - verified >= sweep_runs)
    return SweepPlan(sorted(follow_ups), [entity for _, entity in queue[: max(quota, overdue)]])


def stalest(entries: Mapping[str, Entry], run: int) -> int:
    """Runs since the least recently verified entity was verified (0: all verified this run)."""
    return max((run - (entry.verified_run or 0) for entry in entries.values()), default=0)
