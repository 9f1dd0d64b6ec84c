"""What one run of a source did, returned beside the dlt source by its builder.

A dlt source is a description of work; what the work did (requests made, what a budget
left undone, values that arrived in an unexpected shape) is filled in while dlt extracts
and read by whoever ran it. It travels as this value, never as an attribute on the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sources.http.client import ApiClient


@dataclass
class SourceReport:
    client: ApiClient | None = None
    incomplete: set[str] = field(default_factory=set)
    budget_exhausted: bool = False
    warnings: list[str] = field(default_factory=list)
    planned: dict[str, dict[str, int]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    history_pending: set[str] = field(default_factory=set)  # resources with older history still to read
    budget_cut: set[str] = field(default_factory=set)  # resources the request budget stopped: they continue next run

    @property
    def requests(self) -> int:
        return self.client.requests_made if self.client else 0

    @property
    def history_continues(self) -> bool:
        """Older history is still to read and the next history step may go on: the budget is
        not spent and every resource with history pending finished its window (one left
        unfinished would read the same window again)."""
        return bool(self.history_pending) and not (self.budget_exhausted or self.history_pending & self.incomplete)

    @property
    def still_loading(self) -> set[str]:
        """Resources whose data is not all in yet and is on its way: older history to read, or
        a read the budget stopped (a first load cut inside its first window has no history
        pending yet, and its orders still refer to people it has not reached)."""
        return self.history_pending | self.budget_cut

    def spent(self, resource: str) -> None:
        """The request budget ran out while `resource` worked: it continues next run."""
        self.budget_exhausted = True
        self.incomplete.add(resource)
        self.budget_cut.add(resource)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def notes(self) -> list[str]:
        """The warnings, and once what the run saw of the API's clock (known only once the
        extract is done: read this after it)."""
        clock = self.client.clock.message() if self.client else None
        return [*self.warnings, clock] if clock else list(self.warnings)
