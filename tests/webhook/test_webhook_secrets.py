"""The secrets: read from dlt's config, one per account, and nowhere else afterwards — not
in a log line, not in `ps`, not in any file but the config. And the logs: one JSON line
per request, no traceback when a client hangs up."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from sources.salebot.webhook_store import WebhookStore
from tests.webhook.conftest import ACME_SECRET, GLOBEX_SECRET, SECRET, Served, serve
from tests.webhook.load import push_body

ROOT = Path(__file__).resolve().parents[2]


def _secrets_toml(cwd: Path, text: str) -> None:
    (cwd / ".dlt").mkdir(exist_ok=True)
    (cwd / ".dlt" / "secrets.toml").write_text(text)


def _documented_setup(cwd: Path) -> dict[str, str]:
    """docs/webhook.md: the secrets in .dlt/secrets.toml, nothing secret on the command line."""
    _secrets_toml(cwd, f"""
[sources.salebot]
webhook_secret = "{SECRET}"
webhook_store = "inbox.sqlite"

[sources.salebot.accounts.acme]
webhook_secret = "{ACME_SECRET}"
""")
    return {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}


def _acme_inbox(cwd: Path) -> Path:
    from pipelines.config.accounts import Account
    from pipelines.config.registry import SOURCES

    return cwd / SOURCES["salebot"].account_only["webhook_store"](Account("salebot", "acme"))


def _ps() -> str:
    return subprocess.run(["ps", "-eo", "pid,args", "-ww"], capture_output=True, text=True, check=True).stdout


def _files_containing(root: Path, needles: list[str]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path.relative_to(root)}" for n in needles if n.encode() in data]
    return sorted(set(hits))


def _hang_ups(served: Served, target: str) -> int:
    """Clients that go away at every stage of a request; how many requests reached the app."""
    body = push_body(900, 7)
    head = f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    stages = [
        b"",  # connects, says nothing, leaves
        b"POST " + target.encode(),  # half a request line
        head + body[:10],  # half a body
        head + body,  # a whole push, but no wait for the answer
    ]
    for _ in range(25):
        for stage in stages:
            s = socket.create_connection(("127.0.0.1", served.port))
            if stage:
                s.sendall(stage)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset, not close
            s.close()
    return 25 * 2  # the last two stages got past the headers


def test_the_secrets_appear_in_no_log_line_ps_output_or_file_but_the_config(dlt_env: Path) -> None:
    env = _documented_setup(dlt_env)
    served = serve(dlt_env, env, expect=2)
    base = f"http://127.0.0.1:{served.port}/salebot/webhook"
    try:
        ps = _ps()
        assert str(served.proc.pid) in ps and "webhook serve" in ps
        requests_sent = 0
        hang_ups_after_headers = 0
        for url, status in [
            (f"{base}/{SECRET}", 200),
            (f"{base}?token={SECRET}", 200),
            (f"{base}/acme/{ACME_SECRET}", 200),
            (f"{base}/acme/{SECRET}", 403),  # the right secret for another account
            (f"{base}/{SECRET}/extra", 403),  # the secret in the wrong place
            (f"{base}/{SECRET.upper()}", 403),
            (f"{base}?token={SECRET}&token={SECRET}", 403),
            (f"http://127.0.0.1:{served.port}/elsewhere/{SECRET}", 404),
        ]:
            assert requests.post(url, data=push_body(requests_sent, 7), timeout=10).status_code == status, url
            requests_sent += 1
        assert requests.post(f"{base}/{SECRET}", data=b"{not json", timeout=10).status_code == 400
        requests_sent += 1
        hang_ups_after_headers = _hang_ups(served, f"/salebot/webhook/{SECRET}")
        time.sleep(0.5)
    finally:
        assert served.stop() == 0
    lines = served.log_lines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [e for e in entries if e.get("event") == "request"]
    # one line per request that got past its headers: each request above, each hang-up
    # mid-body (499), each hang-up that left a whole push (stored, answered to nobody)
    stored_lines = sum(e["outcome"] == "stored" for e in access)
    stored_rows = sum(WebhookStore(p).counts()["total"] for p in (dlt_env / "inbox.sqlite", _acme_inbox(dlt_env)))
    mid_body = sum(e["outcome"] == "client_disconnected" and e["status"] == 499 for e in access)
    assert stored_lines == stored_rows and 3 <= stored_rows <= 3 + hang_ups_after_headers
    assert 0 < mid_body <= hang_ups_after_headers
    assert len(access) == requests_sent + (stored_rows - 3) + mid_body
    assert not [line for line in lines if "Traceback" in line or '"level": "error"' in line]
    everything = served.output() + _ps()
    for secret in (SECRET, ACME_SECRET):
        assert secret not in everything
    assert _files_containing(dlt_env, [SECRET, ACME_SECRET]) == [".dlt/secrets.toml"]


def test_a_secret_on_the_command_line_works_but_warns_that_ps_shows_it(dlt_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    served = serve(dlt_env, env, "--path-secret", GLOBEX_SECRET, "--store", "inbox.sqlite")
    try:
        assert GLOBEX_SECRET in _ps()  # what the warning is about: the check above would see it
        assert requests.post(served.url(GLOBEX_SECRET), data=push_body(1, 7), timeout=10).status_code == 200
    finally:
        served.stop()
    assert "can be read by every user of this machine (ps" in served.stderr.read_text()
    assert GLOBEX_SECRET not in served.output()


def _refused(cwd: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", "webhook", "serve", "--port", "0", *flags],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_misconfigured_secrets_stop_the_receiver_with_a_message_and_without_the_secret(dlt_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    none = _refused(dlt_env, env)
    assert none.returncode == 2 and "SOURCES__SALEBOT__WEBHOOK_SECRET" in none.stderr

    short = _refused(dlt_env, {**env, "SOURCES__SALEBOT__WEBHOOK_SECRET": "short-secret"})
    assert short.returncode == 2 and "at least 16" in short.stderr and "short-secret" not in short.stderr

    slashed = _refused(dlt_env, {**env, "SOURCES__SALEBOT__WEBHOOK_SECRET": "a/b" + SECRET})
    assert slashed.returncode == 2 and "URL-safe" in slashed.stderr

    shared = _refused(dlt_env, {**env, "SOURCES__SALEBOT__WEBHOOK_SECRET": SECRET,
                                "SOURCES__SALEBOT__ACCOUNTS__ACME__WEBHOOK_SECRET": SECRET})
    assert shared.returncode == 2 and "same webhook secret" in shared.stderr

    (dlt_env / ".dlt").mkdir(exist_ok=True)
    (dlt_env / ".dlt" / "config.toml").write_text(f'[sources.salebot]\nwebhook_secret = "{SECRET}"\n')
    in_config = _refused(dlt_env, env)
    assert in_config.returncode == 2 and "not in config.toml" in in_config.stderr
    (dlt_env / ".dlt" / "config.toml").unlink()  # a secret there is refused even when the environment has one
    unwritable = _refused(dlt_env, {**env, "SOURCES__SALEBOT__WEBHOOK_SECRET": SECRET}, "--store", "/dev/null/inbox")
    assert unwritable.returncode == 2 and "cannot open the inbox of default" in unwritable.stderr
    for run in (none, short, slashed, shared, in_config, unwritable):
        assert SECRET not in run.stdout + run.stderr and "Traceback" not in run.stderr
