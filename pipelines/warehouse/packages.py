"""dlt load packages an interrupted run left behind, made whole again.

`pipelines.run.lifecycle` finishes a run's own left-over packages (and says so); the small
sibling pipeline that writes the run history uses `settle` to do the same quietly, so a
run killed while recording cannot block every later record.
"""

from __future__ import annotations

import logging

import dlt

logger = logging.getLogger("chatfunnel.packages")


def remove_normalize_remnants(pipeline: dlt.Pipeline) -> list[str]:
    """dlt commits a normalized package, then deletes the extracted one it came from ("do not
    kill this process"). A kill between the two leaves the extracted package, whole or half
    deleted, beside the committed one with the same load id; the next normalize would redo
    it and fail on the missing files. It is a remnant of finished work: remove it."""
    normalized = set(pipeline.list_normalized_load_packages())
    remnants = [i for i in pipeline.list_extracted_load_packages() if i in normalized]
    if remnants:
        storage = pipeline._get_normalize_storage()  # tests/crash/test_recovery.py fails if dlt moves this
        for load_id in remnants:
            storage.extracted_packages.delete_package(load_id, not_exists_ok=True)
    return remnants


KEEP_LOADED_PACKAGES = 30


def prune_loaded(pipeline: dlt.Pipeline, keep: int = KEEP_LOADED_PACKAGES) -> int:
    """Remove all but the newest `keep` loaded packages from the local dlt folder.

    With `load.delete_completed_jobs` a loaded package keeps only its schema, state and
    metadata (~0.1 MB at 50,000 people), but dlt keeps every one of them for ever. The
    newest stay for `dlt pipeline ... trace/load-package`; nothing else reads them (what is
    loaded is in `_dlt_loads`). Housekeeping after a committed load: a package that cannot
    be removed is left for the next run and never fails this one. Returns how many were removed."""
    loaded = sorted(pipeline.list_completed_load_packages())  # load ids sort by time
    old = loaded[: max(0, len(loaded) - keep)]
    storage = pipeline._get_load_storage()  # tests/ops/test_packages.py fails if dlt moves this
    removed = 0
    for load_id in old:
        try:
            storage.delete_loaded_package(load_id)
            removed += 1
        except OSError as exc:
            logger.warning("could not remove the loaded package %s of %s (%s); the next run tries again",
                           load_id, pipeline.pipeline_name, exc.strerror or type(exc).__name__)
    return removed


def settle(pipeline: dlt.Pipeline) -> None:
    """Load what an interrupted run of `pipeline` left; abort it when it cannot be loaded."""
    remove_normalize_remnants(pipeline)
    if not pipeline.has_pending_data:
        return
    try:
        if pipeline.list_extracted_load_packages():
            pipeline.normalize()
        pipeline.load()
    except Exception as exc:  # noqa: BLE001 - a package that cannot load must not block the next one
        logger.warning("dropping a left-over package of %s that could not be loaded (%s)",
                       pipeline.pipeline_name, type(exc).__name__)
        pipeline.abort_packages()
