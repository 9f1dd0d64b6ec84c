"""Older releases of chatfunnel, built from the git history and run as a user ran them.

The commits are named here and nowhere else (a CI clone may have no tags, but it has the
history). Each is extracted with `git archive` into a folder and run with this venv's
Python, with that folder as the working directory and first on `PYTHONPATH`, so its own
`pipelines` and `sources` packages are imported, not the editable install of today's code
(`imported_from` proves it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

RELEASES = {
    "0.16.0": "1118fff",  # the release before this one: the versioned layout it wrote is current
    "0.15.0": "c6fa625",  # the last release before the versioned layout
    "2026-12-01": "cdc1b32",  # before the ledger: per-entity memory in dlt state
}


def extract(commit: str, into: Path) -> Path:
    """The tree of `commit`, written into a new folder under `into`."""
    folder = into / f"chatfunnel-{commit}"
    if folder.exists():
        return folder
    folder.mkdir(parents=True)
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit],
                                 check=True, capture_output=True, timeout=120).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"cannot build commit {commit} from the git history (a shallow clone?): {exc}", pytrace=False)
    tar_path = into / f"{commit}.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(folder, filter="data")
    tar_path.unlink()
    return folder


def env(folder: Path) -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(folder)
    out.pop("PYTHONSAFEPATH", None)  # the working directory must come first on sys.path
    return out


def imported_from(folder: Path) -> list[str]:
    """Where the old code's `pipelines` and `sources` packages are imported from."""
    code = "import pipelines, sources; print(pipelines.__file__); print(sources.__file__)"
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env(folder), capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.split()


def run(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m pipelines <args>` of the old code; its exit code, stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=folder, env=env(folder),
                          capture_output=True, text=True, timeout=timeout)
