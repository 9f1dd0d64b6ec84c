"""What the Leeloo sweep costs and what it buys, night by night, at 5,000 people.

`python -m bench.leeloo_sweep [--scale 5000] [--json out.json]`: the emulator in one
process, `chatfunnel run leeloo` in another for each night, exactly as a user runs it.

1. A full load, then quiet nights (nothing changes) with the default sweep: requests per
   night split into the lists every run reads and the sweep's re-checks (target: a quiet
   night <= 1/7 of the full load + the lists), and the nights until every channel and
   person known at the full load was re-verified (from the run history's sweep facts).
2. A night after ~1% activity: its requests against the full load (target: <= 5% of the
   full load + the sweep's share).
3. The bytes dlt writes into `_dlt_pipeline_state` per run (target: <= 1 MB at 50,000
   people; it grows with nothing per entity now).
4. Under the documents' reading of lastMessageTime (only the subscriber's messages move
   it): each night ~1% of people write and managers reply to 0.5% of channels (half of
   them recently active); nights until each reply is in the warehouse, for replies to
   channels with news the night before (follow-ups) and for the rest (the rotation).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.harness import Emulator, emulators

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
def leeloo(scale: int, *extra: str) -> dict[str, Any]:
    """The emulator every scenario here runs against (the seed the other benches use)."""
    return {"scale": scale, "token": TOKEN, "seed": 11, "extra": extra}


PER_ENTITY = ("GET /api/v2/people/{id}", "GET /api/v2/communication-channels/{id}/chat-messages",
              "GET /api/v2/orders/{id}")


class Nights:
    """One warehouse and pipeline state; `run()` is one night's `chatfunnel run leeloo`."""

    def __init__(self, emulator: Emulator, workdir: Path, sweep_runs: int | None = None) -> None:
        self.emulator = emulator
        url = emulator.url
        self.workdir = workdir
        self.db = workdir / "bench.duckdb"
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "DLT_DATA_DIR": str(workdir / "dlt"),
                    "DESTINATION__DUCKDB__CREDENTIALS": str(self.db), "SOURCES__LEELOO__BASE_URL": url,
                    "SOURCES__LEELOO__API_TOKEN": TOKEN, "SOURCES__LEELOO__REQUESTS_PER_MINUTE": "0",
                    "RUNTIME__DLTHUB_TELEMETRY": "false"}
        if sweep_runs is not None:
            self.env["SOURCES__LEELOO__SWEEP_RUNS"] = str(sweep_runs)
        self.state_rows = 0

    def run(self) -> dict[str, Any]:
        self.emulator.admin("reset", {})
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pipelines", "run", "leeloo", "--no-transform", "--progress",
                               "none", "--concurrency", "16"], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the run failed:\n{done.stdout}\n{done.stderr}")
        counts = self.emulator.admin("requests")["by_endpoint"]
        per_entity = sum(counts.get(e, 0) for e in PER_ENTITY)
        total = sum(counts.values())
        return {"seconds": round(time.monotonic() - started, 1), "requests": total, "lists": total - per_entity,
                "per_entity": per_entity, "by_endpoint": counts, **self.facts(), "state_bytes": self.state_bytes()}

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql).fetchall()

    def facts(self) -> dict[str, Any]:
        rows = self.query("select facts from leeloo._chatfunnel_runs order by started_at desc limit 1")
        facts = json.loads(rows[0][0]) if rows and isinstance(rows[0][0], str) else (rows[0][0] if rows else {})
        return {k: facts.get(k) for k in ("sweep_people", "sweep_channels")}

    def state_bytes(self) -> int:
        """Bytes of the pipeline-state rows this night added (compressed, as dlt stores them)."""
        rows = self.query("select state from leeloo._dlt_pipeline_state where pipeline_name = 'chatfunnel_leeloo' "
                          "order by _dlt_load_id")
        new, self.state_rows = rows[self.state_rows:], len(rows)
        return sum(len(r[0]) for r in new)


def quiet_nights(scale: int, nights: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chatfunnel-sweep-") as tmp, emulators(leeloo(scale)) as (emu,):
        run = Nights(emu, Path(tmp))
        full = run.run()
        print(f"full load: {full['requests']} requests, {full['seconds']} s, state {full['state_bytes']} bytes",
              flush=True)
        quiet = []
        covered = None
        for night in range(1, nights + 1):
            result = run.run()
            quiet.append(result)
            stale = max(result["sweep_people"]["stalest_runs"], result["sweep_channels"]["stalest_runs"])
            if covered is None and stale < night:  # everyone verified again after the full load
                covered = night
            print(f"quiet night {night}: {result['requests']} requests ({result['lists']} lists, "
                  f"{result['per_entity']} re-checks), stalest {stale} runs, state {result['state_bytes']} bytes",
                  flush=True)
        changed = emu.admin("simulate", {"active_people": 0.01, "new_people": scale // 400,
                                          "new_orders": scale // 400, "status_changes": scale // 400})
        active = run.run()
        print(f"night after 1% activity: {active['requests']} requests ({active['lists']} lists, "
              f"{active['per_entity']} per entity)", flush=True)
    share = statistics.mean(q["per_entity"] for q in quiet)
    worst = max(quiet, key=lambda q: q["requests"])
    return {
        "scale": scale, "full_requests": full["requests"],
        "quiet_requests": [q["requests"] for q in quiet], "quiet_lists": [q["lists"] for q in quiet],
        "quiet_rechecks": [q["per_entity"] for q in quiet],
        "quiet_target": [round(full["requests"] / 7 + q["lists"]) for q in quiet],
        "quiet_within_target": all(q["requests"] <= full["requests"] / 7 + q["lists"] for q in quiet),
        "worst_quiet_night": worst["requests"], "nights_until_all_reverified": covered,
        "activity_requests": active["requests"], "activity_changed_people": len(changed["active_people"]),
        "activity_target": round(0.05 * full["requests"] + share),
        "activity_within_target": active["requests"] <= 0.05 * full["requests"] + share,
        "activity_share_of_full": round(active["requests"] / full["requests"], 4),
        "sweep_share_per_night": round(share),
        "state_bytes_per_run": max([full["state_bytes"], *(q["state_bytes"] for q in quiet), active["state_bytes"]]),
    }


def replies_under_inbound(scale: int, nights: int) -> dict[str, Any]:
    """Nights until a reply (invisible to the window) is loaded, by what its channel did:
    the subscriber wrote the same night (the chain is read as news anyway), the night
    before (a follow-up), or not lately (the rotation)."""
    with tempfile.TemporaryDirectory(prefix="chatfunnel-replies-") as tmp, \
            emulators(leeloo(scale, "--last-message-time", "inbound")) as (emu,):
        run = Nights(emu, Path(tmp))
        run.run()
        sent: dict[str, tuple[int, str]] = {}  # reply id -> (night sent, what its channel did)
        wrote_before: set[str] = set()
        loaded_at: dict[str, int] = {}
        for night in range(1, nights + 1):
            activity = emu.admin("simulate", {"active_people": 0.01, "replies": max(1, scale // 200)})
            wrote_now = set(activity["touched_channels"])
            replies = set(activity["reply_messages"])
            for message in emu.admin("truth")["chat_messages"]:
                if message["id"] in replies:
                    channel = message["account_id"]
                    kind = "same_night" if channel in wrote_now else "night_before" if channel in wrote_before \
                        else "not_lately"
                    sent[message["id"]] = (night, kind)
            wrote_before = wrote_now
            run.run()
            loaded = {r[0] for r in run.query("select id from leeloo.chat_messages")}
            loaded_at.update({m: night for m in sent if m in loaded and m not in loaded_at})
    figures: dict[str, Any] = {"replies": len(sent), "nights": nights}
    for kind in ("same_night", "night_before", "not_lately"):
        delays = [loaded_at[m] - n + 1 for m, (n, k) in sent.items() if k == kind and m in loaded_at]
        waiting = [nights - n + 1 for m, (n, k) in sent.items() if k == kind and m not in loaded_at]
        figures[kind] = {"replies": len(delays) + len(waiting), "nights_to_load_median":
                         statistics.median(delays) if delays else None, "nights_to_load_max": max(delays, default=None),
                         "not_loaded_after_nights": sorted(waiting)}
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.leeloo_sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=5000, help="people in the emulated account (default 5000)")
    parser.add_argument("--nights", type=int, default=8, help="quiet nights after the full load (default 8)")
    parser.add_argument("--reply-scale", type=int, default=1000, help="people for the replies scenario (default 1000)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    figures = {"quiet": quiet_nights(args.scale, args.nights), "replies": replies_under_inbound(args.reply_scale, 10)}
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
