"""The steps of a run, named once (what each does: `pipelines.run.lifecycle`)."""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    """A step of a run, in the order a run takes them. A `StrEnum`: a step is its plain name
    wherever it is written (the lock file, the runs table, an error, an alert), and
    `Step.LOAD == "load"`."""

    CONFIG = "config"
    LOCK = "lock"
    PREFLIGHT = "preflight"
    RECOVER = "recover"
    MIGRATE = "migrate"
    EXTRACT = "extract"
    NORMALIZE = "normalize"
    LOAD = "load"
    RECONCILE = "reconcile"
    REPORTS = "reports"
    RECORD = "record"
    PUBLISH = "publish"
    ALERT = "alert"
