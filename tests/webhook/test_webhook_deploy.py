"""deploy/webhook/: the systemd unit is valid and runs a command the real CLI accepts, with
no secret on it; the proxies forward to the unit's port, cap what the receiver caps, close
idle upstream connections before the receiver does, and log no URL."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import build_parser
from pipelines.webhook import ServerSettings, serve_webhook_from_args
from pipelines.webhook.validation import MAX_BODY_BYTES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "webhook"
UNIT = DEPLOY / "chatfunnel-webhook.service"


def _without_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def _exec_start() -> list[str]:
    (line,) = [line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def test_the_unit_runs_chatfunnel_webhook_serve_without_a_secret_on_its_command_line() -> None:
    command = _exec_start()
    assert Path(command[0]).name == "chatfunnel"
    args = build_parser().parse_args(command[1:])
    assert args.handler is serve_webhook_from_args
    assert args.secret_flag is None and args.host == "127.0.0.1"
    unit = UNIT.read_text()
    assert re.search(r"^KillSignal=SIGTERM$", unit, re.M)
    stop = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))  # type: ignore[union-attr]
    assert stop > ServerSettings().header_timeout + 10  # the graceful drain fits


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    # the unit names /srv/chatfunnel/.venv; point it at this environment's chatfunnel
    chatfunnel = Path(sys.executable).with_name("chatfunnel")
    text = UNIT.read_text().replace(_exec_start()[0], str(chatfunnel))
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    verified = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False)
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr


def test_the_proxies_match_the_receiver() -> None:
    port = build_parser().parse_args(_exec_start()[1:]).port
    caddy = _without_comments((DEPLOY / "Caddyfile").read_text())
    nginx = _without_comments((DEPLOY / "nginx.conf").read_text())
    assert f"reverse_proxy 127.0.0.1:{port}" in caddy and f"server 127.0.0.1:{port};" in nginx
    keep_alive = ServerSettings().keep_alive
    caddy_idle = float(re.search(r"keepalive (\d+)s", caddy).group(1))  # type: ignore[union-attr]
    nginx_idle = float(re.search(r"keepalive_timeout (\d+)s;", nginx.split("server {")[0]).group(1))  # type: ignore[union-attr]
    assert caddy_idle < keep_alive and nginx_idle < keep_alive
    assert "max_size 1MB" in caddy and "client_max_body_size 1m;" in nginx and MAX_BODY_BYTES == 1 << 20
    assert "request>uri delete" in caddy and "log default" in caddy
    (tls_server,) = [block for block in nginx.split("\nserver {") if "listen 443 ssl;" in block]
    assert "access_log off;" in tls_server and "log_format" not in nginx
    assert "proxy_pass http://chatfunnel_webhook;" in tls_server  # no URI part: the raw path goes upstream
