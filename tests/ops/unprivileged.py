"""Running the CLI as a user the file permissions apply to.

Root bypasses file permissions, so a test that makes a file unreadable must run the CLI as
someone else. Preferred: the unprivileged user `nobody`, the files owned by root (a first
load by root, the nightly run by a service user). When `nobody` cannot start this Python
(an interpreter under root's home), the CLI runs as root with the capabilities that bypass
file permissions dropped from its bounding set, and the files belong to uid 65534: the
same refusal by the kernel, the other way round. Without root neither is possible: skip.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.ops.conftest import PYTHON, subprocess_env

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3
OTHER_UID = 65534


@dataclass(frozen=True)
class Identities:
    """Who runs the CLI (`runner`, as named in messages) and who owns the files it must be refused."""

    runner: str
    runner_uid: int
    owner_uid: int
    preexec: Callable[[], None]


def _as_nobody() -> None:
    os.setgroups([])
    os.setgid(OTHER_UID)
    os.setuid(OTHER_UID)


def _without_dac_capabilities() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _starts(preexec: Callable[[], None]) -> bool:
    try:
        done = subprocess.run([PYTHON, "-c", "import pipelines.cli"], preexec_fn=preexec, capture_output=True,
                              env=subprocess_env(PYTHONDONTWRITEBYTECODE="1"), cwd="/", timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@cache
def identities() -> Identities | str:
    """Who can run the CLI under file permissions here, or why nobody can."""
    if os.geteuid() != 0:
        return "the test must run as root to start the CLI as another user (root bypasses file permissions)"
    try:
        nobody = pwd.getpwuid(OTHER_UID).pw_name
    except KeyError:
        nobody = None
    if nobody is not None and _starts(_as_nobody):
        return Identities(nobody, OTHER_UID, 0, _as_nobody)
    if _starts(_without_dac_capabilities):
        return Identities("root", 0, OTHER_UID, _without_dac_capabilities)
    return "neither `nobody` can start this Python nor can root drop the capabilities that bypass file permissions"


def require() -> Identities:
    found = identities()
    if isinstance(found, str):
        pytest.skip(found)
    return found


def shared_dir() -> Path:
    """A fresh folder every user can enter and write (tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="chatfunnel-perm-"))
    path.chmod(0o777)
    return path


def give(path: Path, uid: int, mode: int | None = None) -> None:
    """`chown -R uid path` (and `chmod mode` on `path` itself)."""
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(Path(root) / name, uid, -1, follow_symlinks=False)
    os.chown(path, uid, -1)
    if mode is not None:
        path.chmod(mode)


def run_cli(who: Identities, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`chatfunnel ARGS` as the runner, in `cwd`, with the test's environment plus `env`."""
    return subprocess.run([PYTHON, "-m", "pipelines", *args], preexec_fn=who.preexec, capture_output=True,
                          text=True, cwd=cwd, timeout=120, env=subprocess_env(PYTHONDONTWRITEBYTECODE="1", **env))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
