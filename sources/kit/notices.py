"""Warnings a resource may revise later in the run."""

from __future__ import annotations

from collections.abc import Sequence

from sources.report import SourceReport


class RevisedWarnings:
    """Each call to `say` replaces what the previous one said, so resources that finish at
    different times (each saying what it knows so far) never repeat each other."""

    def __init__(self, report: SourceReport) -> None:
        self.report = report
        self._said: list[str] = []

    def say(self, messages: Sequence[str]) -> None:
        for old in self._said:
            if old in self.report.warnings:
                self.report.warnings.remove(old)
        self._said = [m for m in messages if m not in self.report.warnings]
        for message in self._said:
            self.report.warn(message)
