"""Adversarial load: do normal questions keep their speed while others abuse the server?

``hoidap serve`` runs in a subprocess in LLM mode against a scripted OpenAI-compatible
server (``tests/support/openai_server.py``) that answers at once, except for questions
carrying a marker, whose answer streams stall (a token every few seconds). Two phases of
``--duration`` seconds each, from this process:

1. baseline: ``--clients`` clients asking normal seed questions on ``/v1/ask``;
2. adversarial: the same number of clients, ``--costly-share`` of them sending the
   costliest valid question (the full character limit), plus ``--stalled`` clients that
   open ``/v1/chat`` on a stalling answer, read the first bytes and drop the connection,
   again and again.

Reported: normal questions' p50/p95 in both phases and their ratio, statuses (429s are
deliberate; anything else is an error), and the server's threads and RSS at start, 20 s
after the baseline (warm: pools filled), at the peak and 20 s after the adversarial load. Results go to ``bench/results/adversarial.json``.

    .venv/bin/python bench/adversarial_load.py                 # 50 clients, 2 x 45 s
    .venv/bin/python bench/adversarial_load.py --clients 10 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from load_test import ServerProcess, client_loop, hoidap, questions  # noqa: E402
from support.openai_server import OpenAIServer, Reply  # noqa: E402

STALL_MARKER = "Đề án 06 kéo dài"
DEFAULT_OUT = ROOT / "bench" / "results" / "adversarial.json"


def costliest_question(limit: int = 2000) -> str:
    """A valid question at the character limit, made of article-like words."""
    base = "Thủ tướng giao Bộ Tài chính, Bộ Công an và các địa phương nhiệm vụ gì về chuyển đổi số"
    text = base
    while len(text) + len(base) + 2 < limit:
        text += ", " + base
    return text + "?"


def server_usage(pid: int) -> dict:
    """Threads and resident memory of the server process (Linux /proc)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return {
        "threads": int(fields["Threads"]),
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
    }


async def stalled_loop(http: httpx.AsyncClient, url: str, key: str, deadline: float, seen: Counter):
    """Open a stalling answer stream, read its first bytes, drop it; repeat."""
    body = {"messages": [{"role": "user", "content": f"{STALL_MARKER} bao lâu?"}]}
    while time.monotonic() < deadline:
        try:
            async with http.stream(
                "POST", url + "/v1/chat", json=body, headers={"Authorization": f"Bearer {key}"}
            ) as r:
                seen[r.status_code] += 1  # headers arrived: the answer is under way
            # leaving the block closes the connection: the client goes away mid-answer
            if r.status_code == 429:
                await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 5.0))
        except httpx.HTTPError as exc:
            seen[type(exc).__name__] += 1
        await asyncio.sleep(0.5)


def _percentiles(latencies: list[float]) -> dict:
    if len(latencies) < 2:
        return {"p50": 0.0, "p95": 0.0, "n": len(latencies)}
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": round(q[49], 1), "p95": round(q[94], 1), "n": len(latencies)}


async def phase(url: str, key: str, args, adversarial: bool, pid: int, attacker: str = "") -> dict:
    normal_q, costly_q = questions(), [costliest_question()]
    n_costly = round(args.clients * args.costly_share) if adversarial else 0
    groups = {
        "normal": ([], Counter(), Counter()),
        "costly": ([], Counter(), Counter()),
    }
    stalled_seen: Counter = Counter()
    limits = httpx.Limits(max_connections=args.clients + args.stalled + 5)
    peak = server_usage(pid)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as http:
        deadline = time.monotonic() + args.duration
        tasks = []
        for i in range(args.clients):
            name, qs = ("costly", costly_q) if i < n_costly else ("normal", normal_q)
            lat, statuses, failures = groups[name]
            who = attacker if name == "costly" else key
            tasks.append(
                client_loop(i, http, url, who, qs, deadline, [10**9], lat, statuses, failures)
            )
        if adversarial:
            tasks += [
                stalled_loop(http, url, key, deadline, stalled_seen) for _ in range(args.stalled)
            ]

        async def sample() -> None:
            nonlocal peak
            while time.monotonic() < deadline:
                now = server_usage(pid)
                peak = {k: max(peak[k], now[k]) for k in peak}
                await asyncio.sleep(1.0)

        await asyncio.gather(*tasks, sample())
    out = {"peak": peak}
    for name, (lat, statuses, failures) in groups.items():
        if lat or statuses:
            out[name] = {
                **_percentiles(lat),
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
                "transport_errors": dict(failures),
            }
    if adversarial:
        out["stalled_streams"] = {str(k): v for k, v in stalled_seen.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--costly-share", type=float, default=0.2)
    p.add_argument("--stalled", type=int, default=5, help="clients dropping stalled streams")
    p.add_argument("--duration", type=float, default=45.0, help="seconds per phase")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--home", type=Path, default=ROOT / ".hoidap" / "bench-adversarial")
    p.add_argument("--ip-rate", default="1000000/min", help="per-IP limit (all clients: loopback)")
    p.add_argument("--abuser-rate", default="120/min", help="the abusers' key limit (units)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)

    with OpenAIServer() as llm:
        llm.set_default(Reply("answer", "Câu trả lời ngắn [1]."))
        llm.when(STALL_MARKER, Reply("answer", "Một câu trả lời rất chậm " * 20, token_delay=4))
        args.home.mkdir(parents=True, exist_ok=True)
        server = ServerProcess(
            args.home,
            args.ip_rate,
            None,
            {
                "HOIDAP_LLM_BASE_URL": llm.url,
                "HOIDAP_LLM_MODEL": "bench",
                "HOIDAP_LLM_IDLE_TIMEOUT": "10",
            },
        )
        key = server.prepare()
        attacker = json.loads(
            hoidap(
                [
                    "keys",
                    "create-admin",
                    "--name",
                    "attacker",
                    "--rate",
                    args.abuser_rate,
                    "--json",
                ],
                server.env,
            )
        )["key"]  # the adversarial clients are another caller, limited as one would be
        server.start()
        pid = server.proc.pid
        try:
            before = server_usage(pid)
            baseline = asyncio.run(phase(server.url, key, args, False, pid))
            time.sleep(20)
            warm = server_usage(pid)  # thread pools and caches are filled once, at first use
            attack = asyncio.run(phase(server.url, key, args, True, pid, attacker))
            time.sleep(20)
            after = server_usage(pid)
        finally:
            server.stop()
        aborted = llm.aborted
    ratio = attack["normal"]["p95"] / baseline["normal"]["p95"] if baseline["normal"]["p95"] else 0
    result = {
        "clients": args.clients,
        "costly_share": args.costly_share,
        "stalled_clients": args.stalled,
        "abuser_key_rate": args.abuser_rate,
        "duration_s_per_phase": args.duration,
        "costliest_question_chars": len(costliest_question()),
        "baseline": baseline,
        "adversarial": attack,
        "normal_p95_ratio": round(ratio, 2),
        "server_at_start": before,
        "server_after_baseline_20s": warm,
        "server_after_adversarial_20s": after,
        "llm_streams_closed_by_client_drop": aborted,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=1))
    errors = [
        s
        for ph in (baseline, attack)
        for g in ("normal", "costly")
        for s in ph.get(g, {}).get("statuses", {})
        if s not in ("200", "429")
    ]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
