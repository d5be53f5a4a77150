"""Load test of ``POST /v1/ask``: N concurrent clients for T seconds, from a second process.

By default it starts ``hoidap serve`` in a subprocess on a free loopback port (extractive
mode, its own data dir under ``.hoidap/bench-load`` with the seed articles indexed and one
API key), then drives it with asyncio + httpx from this process. With ``--url`` it uses a
running server instead (pass ``--key``). The run is bounded: it stops issuing requests
after ``--duration`` seconds or ``--max-requests`` requests, whichever comes first, and
every request has a timeout.

Results (p50/p95 latency, requests/s, errors by status) go to ``bench/results/load.json``.

    .venv/bin/python bench/load_test.py                 # 50 clients, 60 s
    .venv/bin/python bench/load_test.py --clients 10 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / "evals" / "data" / "seed_qa.jsonl"
DEFAULT_OUT = ROOT / "bench" / "results" / "load.json"


def questions() -> list[str]:
    out = []
    with QA.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                item = json.loads(line)
                if not item.get("history"):
                    out.append(item["question"])
    return out or ["Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hoidap(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"hoidap {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


class ServerProcess:
    """``hoidap serve`` in a subprocess over a prepared data dir."""

    def __init__(
        self, home: Path, ip_rate: str, workers: int | None, extra_env: dict | None = None
    ):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HOIDAP_")}
        self.env.update({"HOIDAP_HOME": str(home), "HOIDAP_API_IP_RATE": ip_rate})
        self.env.update(extra_env or {})
        if workers:
            self.env["HOIDAP_API_WORKERS"] = str(workers)
        self.proc: subprocess.Popen | None = None
        self.key_id = ""

    def prepare(self) -> str:
        """Index the seeds (incremental) and create a fresh API key for this run."""
        hoidap(["index", "seeds", "--json"], self.env)
        created = json.loads(
            hoidap(["keys", "create-admin", "--name", "load-test", "--json"], self.env)
        )
        return created["key"]

    def start(self, timeout: float = 180.0) -> None:
        log = (self.home / "server.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited; see {self.home / 'server.log'}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"the server was not ready within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.key_id:
            hoidap(["keys", "revoke", self.key_id], self.env)


async def client_loop(
    i: int,
    http: httpx.AsyncClient,
    url: str,
    key: str,
    qs: list[str],
    deadline: float,
    budget: list[int],
    latencies: list[float],
    statuses: Counter,
    failures: Counter,
) -> None:
    n = i
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        question = qs[n % len(qs)]
        n += 7
        started = time.perf_counter()
        try:
            r = await http.post(
                url + "/v1/ask",
                json={"question": question},
                headers={"Authorization": f"Bearer {key}"},
            )
        except httpx.HTTPError as exc:
            failures[type(exc).__name__] += 1
            continue
        elapsed = (time.perf_counter() - started) * 1000
        statuses[r.status_code] += 1
        if r.status_code == 200:
            latencies.append(elapsed)
        elif r.status_code == 429:
            await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 5.0))


async def run_load(
    url: str, key: str, clients: int, duration: float, max_requests: int, timeout: float
) -> dict:
    qs = questions()
    latencies: list[float] = []
    statuses: Counter = Counter()
    failures: Counter = Counter()
    budget = [max_requests]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        started = time.monotonic()
        deadline = started + duration
        await asyncio.gather(
            *(
                client_loop(i, http, url, key, qs, deadline, budget, latencies, statuses, failures)
                for i in range(clients)
            )
        )
        wall = time.monotonic() - started
    total = sum(statuses.values())
    errors = {str(s): c for s, c in sorted(statuses.items()) if s not in (200, 429)}
    q = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) >= 2
        else [0.0] * 99
    )
    return {
        "endpoint": "POST /v1/ask",
        "mode": "extractive",
        "clients": clients,
        "duration_s": duration,
        "wall_s": round(wall, 2),
        "requests": total,
        "ok": statuses.get(200, 0),
        "rate_limited_429": statuses.get(429, 0),
        "errors_by_status": errors,
        "transport_errors": dict(failures),
        "requests_per_s": round(total / wall, 2) if wall else 0.0,
        "ok_per_s": round(statuses.get(200, 0) / wall, 2) if wall else 0.0,
        "latency_ms": {
            "p50": round(q[49], 1),
            "p95": round(q[94], 1),
            "p99": round(q[98], 1),
            "max": round(max(latencies), 1) if latencies else 0.0,
            "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        },
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    p.add_argument("--max-requests", type=int, default=100_000, help="hard cap on requests")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in seconds")
    p.add_argument("--url", help="use a running server instead of starting one")
    p.add_argument("--key", default="", help="admin API key for --url (required: no local mode)")
    p.add_argument(
        "--home",
        type=Path,
        default=ROOT / ".hoidap" / "bench-load",
        help="data dir of the started server",
    )
    p.add_argument("--ip-rate", default="1000000/min", help="per-IP limit of the started server")
    p.add_argument(
        "--workers", type=int, default=None, help="HOIDAP_API_WORKERS of the started server"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return p.parse_args(argv)


def _context(args: argparse.Namespace, server, load_before: list[float]) -> dict:
    """Where the figures came from: the server, its settings and the machine."""
    return {
        "server": "started by load_test.py (hoidap serve)" if server else args.url.rstrip("/"),
        "server_config": {
            "ip_rate": args.ip_rate,
            "workers": args.workers or "default (4)",
            "auth": "API key without per-key limit",
        }
        if server
        else {},
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_1_5_15_at_start": load_before,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    server = None
    if args.url:
        url, key = args.url.rstrip("/"), args.key
    else:
        args.home.mkdir(parents=True, exist_ok=True)
        server = ServerProcess(args.home, args.ip_rate, args.workers)
        key = server.prepare()
        server.start()
        url = server.url
    load_before = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews figures
    try:
        print(
            f"load: {args.clients} clients for {args.duration:.0f} s against {url}/v1/ask …",
            flush=True,
        )
        result = asyncio.run(
            run_load(url, key, args.clients, args.duration, args.max_requests, args.timeout)
        )
    finally:
        if server:
            server.stop()
    result.update(_context(args, server, load_before))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    lat = result["latency_ms"]
    print(
        f"{result['requests']} requests in {result['wall_s']} s: {result['requests_per_s']} req/s, "
        f"p50 {lat['p50']} ms, p95 {lat['p95']} ms; 429: {result['rate_limited_429']}, "
        f"errors: {result['errors_by_status'] or 'none'} {result['transport_errors'] or ''}"
    )
    print(f"written to {args.out}")
    bad = result["errors_by_status"] or result["transport_errors"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
