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

   The chat UI's Gradio routes are used and abused alongside: ``--ui`` clients ask through
   ``/gradio_api/call/respond`` (with an admin key, as a script would), and ``--ui-abusers``
   send 2 MB bodies to every Gradio variant (413 expected), 5,000-turn histories (refused
   in the UI's message) and calls without a credential (401 expected);
3. squeeze: two more keys each hold four stalled ``/v1/chat`` answers open at once (each
   within its rate), while the normal clients keep asking with a third key.

Reported: normal questions' p50/p95 in every phase and their ratios to the baseline,
statuses (429, 413 and 401 on the abusers' requests are deliberate; anything else is an
error), and the server's threads and RSS at start, 20 s after the baseline (warm: pools
filled), at the peak and 20 s after the adversarial load. Results go to
``bench/results/adversarial.json``.

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
GRADIO_VARIANTS = (
    "/gradio_api/call/respond",
    "/gradio_api/api/respond",
    "/gradio_api/run/respond",
    "/gradio_api/queue/join",
)


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


async def ui_loop(
    http: httpx.AsyncClient, url: str, key: str, deadline: float, lat: list, seen: Counter
) -> None:
    """Questions through the chat UI's Gradio API: post the call, read its result stream."""
    auth = {"Authorization": f"Bearer {key}"}
    qs, n = questions(), 0
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            body = {"data": [qs[n % len(qs)], [], {}]}
            r = await http.post(url + GRADIO_VARIANTS[0], json=body, headers=auth)
            seen[r.status_code] += 1
            if r.status_code == 200:
                result = url + f"{GRADIO_VARIANTS[0]}/{r.json()['event_id']}"
                text = (await http.get(result, headers=auth)).text
                if "event: complete" in text:
                    lat.append((time.perf_counter() - started) * 1000)
                else:
                    seen["ui_error_event"] += 1
            elif r.status_code == 429:
                await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 5.0))
        except httpx.HTTPError as exc:
            seen[type(exc).__name__] += 1
        n += 7


async def ui_abuse_loop(http: httpx.AsyncClient, url: str, key: str, deadline: float, seen):
    """Oversized bodies to every Gradio variant, huge histories, calls without a key."""
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    big = b'{"data": ["x", [' + b'{"role": "user", "content": "a"},' * 70_000 + b"]]}"
    turns = [{"role": "user", "content": [{"type": "text", "text": "c"}]}] * 5_000
    n = 0
    while time.monotonic() < deadline:
        variant = GRADIO_VARIANTS[n % len(GRADIO_VARIANTS)]
        try:
            r = await http.post(url + variant, content=big, headers=auth)
            seen[f"big_body:{r.status_code}"] += 1
            r = await http.post(url + variant, json={"data": ["Đề án 06 là gì?", turns, {}]})
            seen[f"no_key:{r.status_code}"] += 1
            r = await http.post(
                url + GRADIO_VARIANTS[0],
                json={"data": ["Đề án 06 là gì?", turns, {}]},
                headers=auth,
            )
            seen[f"long_history:{r.status_code}"] += 1
        except httpx.HTTPError as exc:
            seen[type(exc).__name__] += 1
        n += 1
        await asyncio.sleep(0.2)


async def held_stream(http: httpx.AsyncClient, url: str, key: str, deadline: float, seen):
    """One stalled answer held open (never dropped) until it ends or the phase does."""
    body = {"messages": [{"role": "user", "content": f"{STALL_MARKER} bao lâu?"}]}
    headers = {"Authorization": f"Bearer {key}"}

    async def hold() -> None:
        async with http.stream("POST", url + "/v1/chat", json=body, headers=headers) as r:
            seen[r.status_code] += 1
            async for _ in r.aiter_bytes():
                pass

    while (left := deadline - time.monotonic()) > 0:
        try:
            await asyncio.wait_for(hold(), timeout=left)
        except TimeoutError:
            seen["held_to_the_end_of_the_phase"] += 1
        except httpx.HTTPError as exc:
            seen[type(exc).__name__] += 1


def _percentiles(latencies: list[float]) -> dict:
    if len(latencies) < 2:
        return {"p50": 0.0, "p95": 0.0, "n": len(latencies)}
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": round(q[49], 1), "p95": round(q[94], 1), "n": len(latencies)}


def _extra_tasks(mode: str, http, url: str, keys: dict, args, deadline: float, seen: dict):
    """The abusers of one phase, and the UI clients measured beside the normal ones."""
    if mode == "adversarial":
        return [
            *(
                stalled_loop(http, url, keys["normal"], deadline, seen["stalled"])
                for _ in range(args.stalled)
            ),
            *(
                ui_abuse_loop(http, url, keys["attacker"], deadline, seen["ui_abuse"])
                for _ in range(args.ui_abusers)
            ),
        ]
    if mode == "squeeze":
        return [
            held_stream(http, url, key, deadline, seen["squeeze"])
            for key in keys["squeezers"]
            for _ in range(4)
        ]
    return []


async def phase(url: str, keys: dict, args, mode: str, pid: int) -> dict:
    """One phase: normal /v1/ask clients and UI clients timed, with ``mode``'s abusers."""
    normal_q, costly_q = questions(), [costliest_question()]
    n_costly = round(args.clients * args.costly_share) if mode == "adversarial" else 0
    groups = {"normal": ([], Counter(), Counter()), "costly": ([], Counter(), Counter())}
    ui_lat: list[float] = []
    seen = {k: Counter() for k in ("stalled", "ui_abuse", "squeeze", "ui")}
    limits = httpx.Limits(max_connections=args.clients + args.stalled + args.ui + 40)
    peak = server_usage(pid)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as http:
        deadline = time.monotonic() + args.duration
        tasks = []
        for i in range(args.clients):
            name, qs = ("costly", costly_q) if i < n_costly else ("normal", normal_q)
            lat, statuses, failures = groups[name]
            who = keys["attacker"] if name == "costly" else keys["normal"]
            tasks.append(
                client_loop(i, http, url, who, qs, deadline, [10**9], lat, statuses, failures)
            )
        tasks += [
            ui_loop(http, url, keys["normal"], deadline, ui_lat, seen["ui"]) for _ in range(args.ui)
        ]
        tasks += _extra_tasks(mode, http, url, keys, args, deadline, seen)

        async def sample() -> None:
            nonlocal peak
            while time.monotonic() < deadline:
                now = server_usage(pid)
                peak = {k: max(peak[k], now[k]) for k in peak}
                await asyncio.sleep(1.0)

        await asyncio.gather(*tasks, sample())
    out = {"peak": peak, "ui": {**_percentiles(ui_lat), "statuses": _str_keys(seen["ui"])}}
    for name, (lat, statuses, failures) in groups.items():
        if lat or statuses:
            out[name] = {
                **_percentiles(lat),
                "statuses": _str_keys(statuses),
                "transport_errors": dict(failures),
            }
    for name in ("stalled", "ui_abuse", "squeeze"):
        if seen[name]:
            out[name] = _str_keys(seen[name])
    return out


def _str_keys(counter: Counter) -> dict:
    return {str(k): v for k, v in sorted(counter.items(), key=lambda kv: str(kv[0]))}


def _errors(phases: list[dict]) -> list[str]:
    """Statuses that are neither a success nor a limit doing its job on an abuser."""
    out = []
    for ph in phases:
        for group in ("normal", "ui"):
            out += [s for s in ph.get(group, {}).get("statuses", {}) if s != "200"]
        out += [s for s in ph.get("costly", {}).get("statuses", {}) if s not in ("200", "429")]
        for kind, n in ph.get("ui_abuse", {}).items():
            expected = {"big_body": {"413"}, "no_key": {"401"}, "long_history": {"200", "429"}}
            what, _, status = kind.partition(":")
            if status not in expected.get(what, set()):
                out.append(f"ui_abuse {kind} x{n}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--costly-share", type=float, default=0.2)
    p.add_argument("--stalled", type=int, default=5, help="clients dropping stalled streams")
    p.add_argument("--ui", type=int, default=5, help="clients asking through the Gradio API")
    p.add_argument("--ui-abusers", type=int, default=2, help="clients abusing the Gradio routes")
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
        keys = {"normal": server.prepare()}
        keys["attacker"] = _admin_key(server.env, "attacker", args.abuser_rate)
        keys["squeezers"] = [_admin_key(server.env, f"squeezer-{i}", "30/min") for i in (1, 2)]
        runs = _run_phases(server, keys, args)
        aborted = llm.aborted
    result = _summary(args, runs, aborted)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=1))
    errors = _errors([runs["baseline"], runs["adversarial"], runs["squeeze"]])
    if errors:
        print("errors:", errors, file=sys.stderr)
    return 1 if errors else 0


def _run_phases(server: ServerProcess, keys: dict, args) -> dict:
    """Start the server, run the three phases with the pauses between, stop it."""
    server.start()
    pid = server.proc.pid
    runs: dict = {}
    try:
        runs["before"] = server_usage(pid)
        runs["baseline"] = asyncio.run(phase(server.url, keys, args, "baseline", pid))
        time.sleep(20)
        runs["warm"] = server_usage(pid)  # pools and caches are filled once, at first use
        runs["adversarial"] = asyncio.run(phase(server.url, keys, args, "adversarial", pid))
        time.sleep(20)
        runs["after"] = server_usage(pid)
        runs["squeeze"] = asyncio.run(phase(server.url, keys, args, "squeeze", pid))
    finally:
        server.stop()
    return runs


def _summary(args, runs: dict, aborted: int) -> dict:
    base, attack, squeeze = runs["baseline"], runs["adversarial"], runs["squeeze"]
    return {
        "clients": args.clients,
        "ui_clients": args.ui,
        "ui_abusers": args.ui_abusers,
        "costly_share": args.costly_share,
        "stalled_clients": args.stalled,
        "abuser_key_rate": args.abuser_rate,
        "duration_s_per_phase": args.duration,
        "costliest_question_chars": len(costliest_question()),
        "baseline": base,
        "adversarial": attack,
        "squeeze": squeeze,
        "normal_p95_ratio": _ratio(attack["normal"]["p95"], base["normal"]["p95"]),
        "ui_p95_ratio": _ratio(attack["ui"]["p95"], base["ui"]["p95"]),
        "squeeze_normal_p50_ratio": _ratio(squeeze["normal"]["p50"], base["normal"]["p50"]),
        "squeeze_normal_p95_ratio": _ratio(squeeze["normal"]["p95"], base["normal"]["p95"]),
        "server_at_start": runs["before"],
        "server_after_baseline_20s": runs["warm"],
        "server_after_adversarial_20s": runs["after"],
        "llm_streams_closed_by_client_drop": aborted,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }


def _admin_key(env: dict, name: str, rate: str) -> str:
    """Another caller, limited as one would be."""
    args = ["keys", "create-admin", "--name", name, "--rate", rate, "--json"]
    return json.loads(hoidap(args, env))["key"]


def _ratio(value: float, base: float) -> float:
    return round(value / base, 2) if base else 0.0


if __name__ == "__main__":
    sys.exit(main())
