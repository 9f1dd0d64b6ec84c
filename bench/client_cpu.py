"""`python -m bench.client_cpu URL TOKEN N CONCURRENCY`: the HTTP client alone, as the Leeloo
source builds it, fetching person details over CONCURRENCY threads; prints one JSON line
with the CPU seconds of this process per request. Run in its own process so that the
client comes from whichever source tree is first on PYTHONPATH (comparisons in pairs)."""

from __future__ import annotations

import json
import sys
import threading
import time

import requests


def measure(url: str, token: str, total: int, concurrency: int) -> dict[str, float]:
    from sources.leeloo.client import make_client

    ids = [p["id"] for p in requests.get(f"{url}/__admin/truth", timeout=60).json()["people"][:100]]
    client = make_client(token, url, requests_per_minute=None, max_requests=None, concurrency=concurrency)
    for n in range(20):  # connections opened, code paths warm
        client.get_json(f"api/v2/people/{ids[n % len(ids)]}", params={"include": "contactedUsers,orders"})
    counter = iter(range(total))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            client.get_json(f"api/v2/people/{ids[n % len(ids)]}", params={"include": "contactedUsers,orders"})

    cpu, wall = time.process_time(), time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    return {"requests": total, "cpu_ms_per_request": round(1000 * cpu / total, 3), "wall_s": round(wall, 2)}


if __name__ == "__main__":
    url, token, total, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(measure(url, token, total, concurrency)))
