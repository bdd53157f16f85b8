"""Service desk benchmark: ``make bench-desk`` (or ``python benchmarks/desk_bench.py
[--workdir /tmp/deskbench] [--quick] [--profile]``).

Two measurements, each beside a comparable job measured in the same run:

1. **The API** (``tiyan serve`` on a DuckDB store holding a simulated market of 100,000
   orders, ingested): at a steady arrival rate of R write requests a second, open loop
   (httpx over keep-alive connections, from a second process; each latency counts from the
   request's *scheduled* time, so a server that falls behind is charged for the queue),
   a stream of desk operations — ``POST /v1/service-requests`` (a ``service`` key,
   ``merchant_online: true``: the request waits on the merchant) and, a second later, that
   merchant's ``POST /v1/service-requests/{id}/steps {"action": "answer"}`` (the merchant's
   own key, one per merchant) — opens and answers alternating, R/2 of each a second. The
   reference, on the same server at the same R: ``POST /v1/events`` batches of one
   ``review`` event (the API's smallest write). ratio = desk p99 / events p99. Afterwards an
   ``agent`` key reads a sample of the requests back (answered, waiting on the platform), and
   the store is counted: every request answered, every review stored.
2. **The SLA sweep** (``tiyan.jobs.desk.sweep_breaches``) over a store of 1,000,000
   requests, built in bulk from the simulator's desk histories (``tiyan.sim.desk``) of a
   1M-order market, replicated with new ids and shifted by whole days (the desk's calendar
   has no holidays and Asia/Shanghai no DST, so a summary shifts with its trail; checked
   against ``summarize`` on a sample): 92 % settled or with the platform, 5 % waiting on the
   merchant past their deadline, 3 % waiting and not yet due. Measured: the first sweep
   (escalates the due ones) and a second one right after (nothing to do), in a fresh
   process on a fresh copy. Checked: exactly the due requests moved to ``waiting_platform``,
   each with a ``system`` ``breach`` step at its deadline (a sample against
   ``merchant_clock``), the others untouched, and the second sweep escalates none.
   Reference: a day's scoring run (``tiyan.jobs.scoring.run_scoring``) on the same 1M-order
   market, prepared and timed as ``benchmarks/metrics_bench.py`` does (the full first run and
   the next day's). ratio = sweep seconds / scoring seconds.

``--profile`` also runs the first sweep under cProfile (on another fresh copy) and prints
where its time goes. Prints Markdown tables and writes ``<workdir>/desk.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from metrics_bench import best_of, copy_store, job_catalog, job_prepare, run_child
from run import machine

CONNECTIONS = 64
ANSWER_LAG = 1.0  # seconds from a request's opening to its merchant's answer (scheduled)
WARMUP = 2.0  # seconds of each scenario at its rate, not counted
#: A request not answered this long after the last scheduled one is given up (counted as
#: unanswered, its latency at least the time it waited: the percentiles are then lower bounds).
DRAIN = 10.0
#: The sweep's "now": after the simulated market (2024-05-01 + 90 days + 10 days of desk).
SWEEP_NOW = datetime(2024, 8, 12, 7, 0, tzinfo=UTC)  # 15:00 in Asia/Shanghai
DAY_US = 86_400 * 1_000_000
SHARE_DUE, SHARE_NOT_DUE = 0.05, 0.03
MEMORY_LIMIT = "6GB"


def say(msg: str) -> None:
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"[{time.strftime('%H:%M:%S')} load {load}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (as benchmarks/service_bench.py)."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s)) - 1))]


def prepare_market(folder: Path, orders: int, merchants: int) -> dict[str, Any]:
    """A simulated market ingested into ``folder/pristine.duckdb`` (cached), with its
    Parquet files in ``folder/market`` (metrics_bench's preparation)."""
    stamp = folder / "prepared.json"
    wanted = {"orders": orders, "merchants": merchants, "days": 90, "seed": 1}
    if stamp.exists() and (folder / "pristine.duckdb").exists():
        done = json.loads(stamp.read_text())
        if done.get("params") == wanted:
            say(f"reusing {folder / 'pristine.duckdb'}")
            return dict(done["prepare"], reused=True)
    folder.mkdir(parents=True, exist_ok=True)
    say(f"preparing {folder}: {orders:,} orders, {merchants:,} merchants")
    start = time.perf_counter()
    result = run_child(job_prepare, str(folder), merchants, orders, MEMORY_LIMIT)
    result["prepare_s"] = time.perf_counter() - start
    stamp.write_text(json.dumps({"params": wanted, "prepare": result}, indent=2, default=str))
    return dict(result, reused=False)


# -- 1. the API ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``tiyan serve --quiet`` in its own session, on a free loopback port."""

    def __init__(self, db: str, log: Path) -> None:
        self.port = free_port()
        # `python -m tiyan`: the tiyan this script imports (PYTHONPATH=<checkout>/src works)
        cmd = [sys.executable, "-m", "tiyan", "serve", "--db", db, "--host", "127.0.0.1",
               "--port", str(self.port), "--quiet", "--rate-limit", "1000000"]  # fmt: skip
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"tiyan serve did not start: see {log}")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, limit: float = 120.0) -> float:
        """Until the server has no work left (under 5 % of a core for a second): requests
        given up by a load generator may still be queued in it. Seconds waited."""
        start = time.monotonic()
        before = self.cpu_seconds()
        while time.monotonic() - start < limit:
            time.sleep(1.0)
            now = self.cpu_seconds()
            if now - before < 0.05:
                break
            before = now
        return time.monotonic() - start

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def api_fixtures(db: str, n_merchants: int, n_reviews: int) -> dict[str, Any]:
    """Keys (service, agent, one per merchant used), the merchants' orders for the desk's
    requests, and orders without a review for the review events."""
    from tiyan.policy.files import load_policy
    from tiyan.service.keys import create_key
    from tiyan.store import open_store

    now = datetime.now(UTC)
    with open_store(db) as store:
        merchants = [r[0] for r in store.query(
            "SELECT merchant_id FROM orders GROUP BY merchant_id HAVING count(*) >= 50 "
            "ORDER BY hash(merchant_id) LIMIT ?", (n_merchants,))]  # fmt: skip
        marks = ", ".join("?" for _ in merchants)
        orders: dict[str, list[tuple[str, str | None]]] = {m: [] for m in merchants}
        for oid, mid, cid in store.query(
            f"SELECT order_id, merchant_id, consumer_id FROM orders WHERE merchant_id IN ({marks}) "
            "ORDER BY hash(order_id)",
            merchants,
        ):
            orders[mid].append((oid, cid))
        reviews = [
            (oid, mid, (signed + timedelta(days=1)).isoformat() + "+00:00")
            for oid, mid, signed in store.query(
                "SELECT o.order_id, o.merchant_id, o.signed_at FROM orders o "
                "WHERE o.signed_at IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM reviews r WHERE r.order_id = o.order_id) "
                "ORDER BY hash(o.order_id) LIMIT ?",
                (n_reviews,),
            )
        ]
        keys = {
            "service": create_key(store, role="service", now=now, label="desk-bench").secret,
            "agent": create_key(store, role="agent", now=now, label="desk-bench").secret,
            "merchants": {
                m: create_key(store, role="merchant", merchant_id=m, now=now,
                              label="desk-bench").secret
                for m in merchants
            },
        }  # fmt: skip
    desk = load_policy(as_of=now.date()).desk
    types = sorted(t for t, k in desk.types.items() if not k.set_by_platform)
    if len(reviews) < n_reviews:
        raise SystemExit(f"only {len(reviews)} orders without a review: use a larger market")
    return {"keys": keys, "merchants": merchants, "orders": orders, "reviews": reviews,
            "types": types}  # fmt: skip


def desk_ops(fx: dict[str, Any], prefix: str, n: int) -> list[dict[str, Any]]:
    rng = random.Random(prefix)
    out = []
    for i in range(n):
        m = fx["merchants"][i % len(fx["merchants"])]
        oid, cid = fx["orders"][m][(i // len(fx["merchants"])) % len(fx["orders"][m])]
        body = {"request_id": f"{prefix}-{i:05d}", "type_id": rng.choice(fx["types"]),
                "merchant_id": m, "order_id": oid, "merchant_online": True,
                "note": "还没收到货, 请尽快处理"}  # fmt: skip
        if cid is not None:
            body["consumer_id"] = cid
        out.append({"body": body, "merchant": m})
    return out


def review_batches(fx: dict[str, Any], prefix: str, first: int, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(first, first + n):
        oid, mid, at = fx["reviews"][i]
        out.append({"items": [{"id": f"{prefix}-{i:05d}", "type": "review", "data": {
            "review_id": f"{prefix}-R{i:05d}", "order_id": oid, "merchant_id": mid,
            "rating": 1 + i % 5, "text": "物流很快", "created_at": at}}]})  # fmt: skip
    return out


async def _sleep_until(t: float) -> None:
    delay = t - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def desk_load(
    port: int,
    service_key: str,
    merchant_keys: dict[str, str],
    ops: list[dict[str, Any]],
    rate: float,
    warmup_ops: int,
) -> dict[str, Any]:
    """Opens and answers alternating at ``rate`` requests/s in all (open loop)."""
    import httpx2 as httpx

    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    interval = 2.0 / rate  # one open and one answer per interval
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 timeout=120.0) as client:  # fmt: skip
        start = time.perf_counter() + 0.5

        async def one(i: int, op: dict[str, Any]) -> None:
            t_open = start + i * interval
            await _sleep_until(t_open)
            rec: dict[str, Any] = {"i": i, "open_at": t_open}
            records.append(rec)
            try:
                auth = {"Authorization": f"Bearer {service_key}"}
                r = await client.post("/v1/service-requests", json=op["body"], headers=auth)
                rec["open_status"] = r.status_code
                if r.status_code != 201 and len(problems) < 5:
                    problems.append(f"open {r.status_code}: {r.text[:300]}")
            except httpx.HTTPError as exc:
                rec["open_status"] = type(exc).__name__
            done = time.perf_counter()
            rec["open_done"] = done
            # the merchant answers ANSWER_LAG after the opening (scheduled), or as soon as the
            # request exists if its opening took longer than that
            t_answer = t_open + interval / 2 + ANSWER_LAG
            rec["answer_late_open"] = done > t_answer
            t_answer = max(t_answer, done)
            await _sleep_until(t_answer)
            rec["answer_at"] = t_answer
            rid = op["body"]["request_id"]
            key = merchant_keys[op["merchant"]]
            try:
                r = await client.post(f"/v1/service-requests/{rid}/steps",
                                      json={"action": "answer", "note": "已补发, 单号稍后上传"},
                                      headers={"Authorization": f"Bearer {key}"})  # fmt: skip
                rec["answer_status"] = r.status_code
                if r.status_code != 200 and len(problems) < 5:
                    problems.append(f"answer {r.status_code}: {r.text[:300]}")
            except httpx.HTTPError as exc:
                rec["answer_status"] = type(exc).__name__
            rec["answer_done"] = time.perf_counter()

        tasks = [asyncio.create_task(one(i, op)) for i, op in enumerate(ops)]
        cutoff = start + len(ops) * interval + ANSWER_LAG + DRAIN
        _, pending = await asyncio.wait(tasks, timeout=cutoff - time.perf_counter())
        for t in pending:
            t.cancel()
        cutoff = time.perf_counter()
    kept = [r for r in records if r["i"] >= warmup_ops]
    opens = [r.get("open_done", cutoff) - r["open_at"] for r in kept]
    answers = [
        r.get("answer_done", cutoff) - r.get("answer_at", r["open_at"] + ANSWER_LAG) for r in kept
    ]
    first = min(r["open_at"] for r in kept)
    last = max(max(r.get("open_done", 0), r.get("answer_done", 0)) for r in kept)
    last_open = max(r.get("open_done", 0) for r in kept)
    return {
        "rate": rate, "ops": len(kept), "requests": 2 * len(kept),
        "achieved_rps": 2 * len(kept) / (last - first),
        "achieved_opens_per_s": len(kept) / (last_open - first),
        "open": stats(opens), "answer": stats(answers),
        "open_non_2xx": sum(1 for r in kept if r.get("open_status", 201) != 201),
        "answer_non_2xx": sum(1 for r in kept if r.get("answer_status", 200) != 200),
        "open_unanswered": sum(1 for r in kept if "open_done" not in r),
        "answer_unanswered": sum(1 for r in kept if "answer_done" not in r),
        "answers_after_late_open": sum(1 for r in kept if r.get("answer_late_open")),
        "opened_ids": [ops[r["i"]]["body"]["request_id"] for r in records
                       if r.get("open_status") == 201],
        "answered_ids": [ops[r["i"]]["body"]["request_id"] for r in records
                         if r.get("answer_status") == 200],
        "problems": problems,
    }  # fmt: skip


async def events_load(port: int, key: str, batches: list[dict[str, Any]], rate: float,
                      warmup_n: int) -> dict[str, Any]:  # fmt: skip
    import httpx2 as httpx

    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    records: list[tuple[int, float, float, Any, int]] = []
    problems: list[str] = []
    accepted_ids: list[str] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 timeout=120.0) as client:  # fmt: skip
        start = time.perf_counter() + 0.5

        async def one(i: int, body: dict[str, Any]) -> None:
            t = start + i / rate
            await _sleep_until(t)
            accepted = 0
            review_id = body["items"][0]["data"]["review_id"]
            try:
                r = await client.post("/v1/events", json=body,
                                      headers={"Authorization": f"Bearer {key}"})  # fmt: skip
                status: Any = r.status_code
                if status == 200:
                    answer = r.json()
                    accepted = answer["accepted"]
                    if accepted:
                        accepted_ids.append(review_id)
                    if answer["rejected"] and len(problems) < 5:
                        problems.append(json.dumps(answer["items"], ensure_ascii=False)[:400])
                elif len(problems) < 5:
                    problems.append(f"{status}: {r.text[:300]}")
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            records.append((i, t, time.perf_counter(), status, accepted))

        tasks = [asyncio.create_task(one(i, b)) for i, b in enumerate(batches)]
        cutoff = start + len(batches) / rate + DRAIN
        _, pending = await asyncio.wait(tasks, timeout=cutoff - time.perf_counter())
        for task in pending:
            task.cancel()
        cutoff = time.perf_counter()
    kept = [r for r in records if r[0] >= warmup_n]
    first = start + warmup_n / rate
    last = max(r[2] for r in kept)
    answered = {r[0] for r in records}
    waited = [cutoff - (start + i / rate) for i in range(warmup_n, len(batches))
              if i not in answered]  # fmt: skip
    return {
        "rate": rate, "batches": len(batches) - warmup_n,
        "achieved_rps": len(kept) / (last - first),
        "batch": stats([r[2] - r[1] for r in kept] + waited),
        "non_2xx": sum(1 for r in kept if r[3] != 200), "unanswered": len(waited),
        "accepted": sum(r[4] for r in kept), "problems": problems,
        "accepted_ids": accepted_ids,
    }  # fmt: skip


def stats(latencies: list[float]) -> dict[str, float]:
    return {f"p{int(q * 100)}_ms": pct(latencies, q) * 1e3 for q in (0.5, 0.95, 0.99)} | {
        "max_ms": max(latencies) * 1e3 if latencies else float("nan"),
        "n": len(latencies),
    }


async def read_back(port: int, agent_key: str, ids: list[str]) -> dict[str, Any]:
    """An agent reads a sample of the requests (each answered, waiting on the platform),
    and the whole queue once (timed)."""
    import httpx2 as httpx

    headers = {"Authorization": f"Bearer {agent_key}"}
    bad: list[str] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300.0) as client:
        for rid in ids:
            r = await client.get(f"/v1/service-requests/{rid}", headers=headers)
            body = r.json() if r.status_code == 200 else {}
            trail = [(s["actor"], s["action"]) for s in body.get("trail", [])]
            ok = (r.status_code == 200 and body["state"] == "waiting_platform"
                  and trail[-1] == ("merchant", "answer")
                  and body["breached"] is False)  # fmt: skip
            if not ok:
                bad.append(f"{rid}: {r.status_code} {json.dumps(body, ensure_ascii=False)[:300]}")
        t0 = time.perf_counter()
        r = await client.get("/v1/service-requests", headers=headers)
        queue_s = time.perf_counter() - t0
        queued = len(r.json()) if r.status_code == 200 else None
    return {"checked": len(ids), "bad": bad, "queue_s": queue_s, "queue_status": r.status_code,
            "queue_items": queued}  # fmt: skip


def _loadgen(job: dict[str, Any], queue: Any) -> None:
    kind = job.pop("kind")
    fn = {"desk": desk_load, "events": events_load, "read": read_back}[kind]
    queue.put(asyncio.run(fn(**job)))


def loadgen(job: dict[str, Any]) -> dict[str, Any]:
    """One load job in a fresh process (neither the server's nor this one)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_loadgen, args=(job, queue))
    p.start()
    try:
        result = queue.get(timeout=1800)
    finally:
        p.join(timeout=30)
    return dict(result)


def bench_api(work: Path, orders: int, merchants: int, rates: list[float], seconds: float,
              n_merchants: int) -> dict[str, Any]:  # fmt: skip
    folder = work / f"api-{orders}"
    prep = prepare_market(folder, orders, merchants)
    db = folder / "bench.duckdb"
    copy_store(folder / "pristine.duckdb", db)
    per_rate = {r: int(r * (seconds + WARMUP)) for r in rates}  # requests per scenario
    n_reviews = sum(per_rate.values())
    fx = api_fixtures(str(db), n_merchants, n_reviews)
    tag = datetime.now().strftime("%H%M%S")
    out: dict[str, Any] = {"prepare": prep, "scenarios": {}, "merchant_keys": n_merchants}
    server = Server(str(db), folder / "serve.log")
    say(f"server on port {server.port} ({db})")
    first_review = 0
    answered: list[str] = []
    try:
        for rate in rates:
            n = per_rate[rate]
            batches = review_batches(fx, f"DBE{tag}r{rate:g}", first_review, n)
            first_review += n
            say(f"events: {n} one-review batches at {rate:g} req/s")
            load_before = loadavg()
            ev = loadgen({"kind": "events", "port": server.port, "key": fx["keys"]["service"],
                          "batches": batches, "rate": rate,
                          "warmup_n": int(rate * WARMUP)})  # fmt: skip
            ev["load"] = [load_before, loadavg()]
            ev["idle_wait_s"] = server.wait_idle()
            say(f"  p50 {ev['batch']['p50_ms']:.1f} p99 {ev['batch']['p99_ms']:.1f} ms, "
                f"{ev['achieved_rps']:.1f} req/s, non-2xx {ev['non_2xx']}, unanswered "
                f"{ev['unanswered']}; server idle after {ev['idle_wait_s']:.0f} s")  # fmt: skip
            ops = desk_ops(fx, f"DBD{tag}r{rate:g}", n // 2)
            say(f"desk: {len(ops)} opens + {len(ops)} answers at {rate:g} req/s")
            load_before = loadavg()
            dk = loadgen({"kind": "desk", "port": server.port,
                          "service_key": fx["keys"]["service"],
                          "merchant_keys": fx["keys"]["merchants"], "ops": ops, "rate": rate,
                          "warmup_ops": int(rate * WARMUP / 2)})  # fmt: skip
            dk["load"] = [load_before, loadavg()]
            dk["idle_wait_s"] = server.wait_idle()
            answered.extend(dk["answered_ids"])
            say(f"  open p50 {dk['open']['p50_ms']:.1f} p99 {dk['open']['p99_ms']:.1f} ms, "
                f"answer p50 {dk['answer']['p50_ms']:.1f} p99 {dk['answer']['p99_ms']:.1f} ms, "
                f"{dk['achieved_rps']:.1f} req/s, non-2xx {dk['open_non_2xx']}/"
                f"{dk['answer_non_2xx']}, unanswered {dk['open_unanswered']}/"
                f"{dk['answer_unanswered']}; idle after {dk['idle_wait_s']:.0f} s")  # fmt: skip
            out["scenarios"][f"{rate:g}"] = {"events": ev, "desk": dk}
        say("agent: reading back a sample, and the whole queue once")
        sample = random.Random(1).sample(answered, min(50, len(answered)))
        out["read_back"] = loadgen({"kind": "read", "port": server.port,
                                    "agent_key": fx["keys"]["agent"], "ids": sample})  # fmt: skip
    finally:
        server.stop()
    out["landed"] = landed(db, tag, out["scenarios"])
    for rate, got in out["landed"].items():
        if not got["verified"]:
            say(f"rate {rate}: NOT EVERYTHING ANSWERED LANDED: {got}")
    return out


def landed(db: Path, tag: str, scenarios: dict[str, Any]) -> dict[str, Any]:
    """Every request the server answered 201 is stored, every answer it answered 200 left
    its request answered and waiting on the platform, every accepted review is stored."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect(str(db), read_only=True)
    out = {}
    try:
        for rate, sc in scenarios.items():
            dk, ev = sc["desk"], sc["events"]

            def count(sql: str, ids: list[str], *params: Any) -> int:
                con.register("__ids", pa.table({"id": pa.array(ids, type=pa.string())}))
                n = con.execute(sql, list(params)).fetchone()[0]  # type: ignore[index]
                con.unregister("__ids")
                return int(n)

            got = {
                "opened": len(dk["opened_ids"]),
                "opened_stored": count("SELECT count(*) FROM service_requests "
                                       "WHERE request_id IN (SELECT id FROM __ids)",
                                       dk["opened_ids"]),
                "answered": len(dk["answered_ids"]),
                "answered_stored": count(
                    "SELECT count(*) FROM service_requests r WHERE r.request_id IN "
                    "(SELECT id FROM __ids) AND r.state = 'waiting_platform' AND "
                    "r.merchant_answered_at IS NOT NULL AND EXISTS (SELECT 1 FROM request_steps "
                    "s WHERE s.request_id = r.request_id AND s.action = 'answer' "
                    "AND s.actor = 'merchant')", dk["answered_ids"]),
                "reviews_accepted": len(ev["accepted_ids"]),
                "reviews_stored": count("SELECT count(*) FROM reviews "
                                        "WHERE review_id IN (SELECT id FROM __ids)",
                                        ev["accepted_ids"]),
                "requests_in_store": count("SELECT count(*) FROM service_requests "
                                           "WHERE request_id LIKE ?", [],
                                           f"DBD{tag}r{rate}-%"),
            }  # fmt: skip
            got["verified"] = (got["opened"] == got["opened_stored"]
                               and got["answered"] == got["answered_stored"]
                               and got["reviews_accepted"] == got["reviews_stored"])  # fmt: skip
            out[rate] = got
    finally:
        con.close()
    return out


# -- 2. the sweep ----------------------------------------------------------------------------


def _naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


def templates(market: Path, cache: Path, desk: Any) -> list[Any]:
    """The simulator's desk histories of the market (cached as JSON lines)."""
    from tiyan.service_desk.history import History
    from tiyan.sim.desk import write_desk

    if not cache.exists():
        say(f"simulating the desk's histories of {market}")
        write_desk(market, cache, seed=1, desk=desk)
    with cache.open(encoding="utf-8") as f:
        return [History.model_validate_json(line) for line in f if line.strip()]


def _template_tables(histories: list[Any], desk: Any) -> tuple[Any, Any, list[str]]:
    """One template row per settled history (its whole trail) and per history routed to
    the merchant (its first two steps: waiting on the merchant), with their steps."""
    import pyarrow as pa

    from tiyan.domain.model import DESK_TABLES
    from tiyan.service_desk.history import summarize
    from tiyan.service_desk.requests import State, replay
    from tiyan.sim.arrow import ARROW_TYPES
    from tiyan.store.desk import StoredRequest

    requests_t, steps_t = DESK_TABLES["service_requests"], DESK_TABLES["request_steps"]
    rows: list[tuple[Any, ...]] = []
    kinds: list[str] = []
    steps: dict[str, list[Any]] = {c: [] for c in ("tpl", *steps_t.column_names)}
    for h in histories:
        hours = desk.hours_for(h.type_id, h.set_hours)
        final = replay(h.trail)
        variants = []
        if final not in (State.OPEN, State.WAITING_MERCHANT):
            liability = h.resolutions[-1].liability if h.resolutions else None
            variants.append(("settled", list(h.trail), final, liability))
        if h.trail[1].action == "route_merchant":
            variants.append(("waiting", list(h.trail[:2]), State.WAITING_MERCHANT, None))
        for kind, trail, state, liability in variants:
            req = StoredRequest(
                request_id=h.request_id, type_id=h.type_id, merchant_id=h.merchant_id,
                order_id=h.order_id, consumer_id=h.consumer_id, case_id=h.case_id,
                complaint_id=h.complaint_id, language=h.language, set_hours=h.set_hours,
                created_at=trail[0].at, state=state.value, updated_at=trail[-1].at,
            )  # fmt: skip
            summary = summarize(trail, desk.calendar, hours=hours, resolve_hours=desk.resolve_hours)
            req = req.with_summary(summary, liability=liability)
            for seq, s in enumerate(trail, 1):
                for c, v in zip(("tpl", "request_id", "seq", "step_at", "actor", "actor_id",
                                 "action", "note"),
                                (len(rows), h.request_id, seq, _naive(s.at), s.actor, None,
                                 s.action, s.note), strict=True):  # fmt: skip
                    steps[c].append(v)
            rows.append(req.row())
            kinds.append(kind)
    schema = pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in requests_t.columns])
    columns = list(zip(*rows, strict=True))
    req_table = pa.table(
        [pa.array(list(col), type=f.type) for col, f in zip(columns, schema, strict=True)],
        schema=schema,
    )
    step_schema = pa.schema(
        [pa.field("tpl", pa.int64())]
        + [pa.field(c.name, ARROW_TYPES[c.type]) for c in steps_t.columns]
    )
    step_table = pa.table({c: pa.array(steps[c], type=step_schema.field(c).type)
                           for c in step_schema.names}, schema=step_schema)  # fmt: skip
    return req_table, step_table, kinds


def _shift(array: Any, shift_us: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.add(array, pa.array(shift_us, type=pa.duration("us")))


def build_desk_store(db: Path, histories: list[Any], desk: Any, n: int, seed: int = 1
                     ) -> dict[str, Any]:  # fmt: skip
    """``n`` requests and their trails, replicated from the templates in bulk (module
    docstring), written to a new store at ``db``; the expected sweep in ``db``.json."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from tiyan.domain.model import DESK_TABLES
    from tiyan.store import open_store

    t0 = time.perf_counter()
    req_t, step_t, kinds = _template_tables(histories, desk)
    rng = np.random.default_rng(seed)
    kind = np.array(kinds)
    settled = np.flatnonzero(kind == "settled")
    waiting = np.flatnonzero(kind == "waiting")
    now_us = int(SWEEP_NOW.timestamp() * 1_000_000)
    us = lambda col: pc.cast(req_t[col], pa.int64()).to_numpy(zero_copy_only=False)  # noqa: E731
    created, due = us("created_at"), us("merchant_due_at")
    n_due, n_wait = round(n * SHARE_DUE), round(n * SHARE_NOT_DUE)
    n_settled = n - n_due - n_wait
    # settled: copy j of every template, shifted back 7 j days
    k = np.arange(n_settled)
    tpl_s = settled[k % len(settled)]
    shift_s = -7 * (k // len(settled))
    # due: a waiting template shifted so that its deadline is 0-29 days before now
    tpl_d = waiting[rng.integers(len(waiting), size=n_due)]
    shift_d = (now_us - due[tpl_d]) // DAY_US - rng.integers(0, 30, size=n_due)
    # not yet due: shifted to the last day on which it was opened by now, if still running
    back = (now_us - created[waiting]) // DAY_US
    running = waiting[due[waiting] + back * DAY_US > now_us]
    tpl_w = running[rng.integers(len(running), size=n_wait)]
    shift_w = (now_us - created[tpl_w]) // DAY_US
    tpl = np.concatenate([tpl_s, tpl_d, tpl_w])
    shift_us = np.concatenate([shift_s, shift_d, shift_w]).astype(np.int64) * DAY_US
    group = np.concatenate([np.zeros(n_settled, np.int8), np.ones(n_due, np.int8),
                            np.full(n_wait, 2, np.int8)])  # fmt: skip
    reqs = req_t.take(pa.array(tpl))
    ts = [f.name for f in reqs.schema if pa.types.is_timestamp(f.type)]
    for c in ts:
        reqs = reqs.set_column(reqs.schema.get_field_index(c), c, _shift(reqs[c], shift_us))
    # in creation order, numbered as the desk numbers them
    order = pc.sort_indices(reqs, [("created_at", "ascending")]).to_numpy()
    reqs = reqs.take(pa.array(order))
    tpl, shift_us, group = tpl[order], shift_us[order], group[order]
    ids = pa.array([f"SR{i:08d}" for i in range(1, n + 1)], type=pa.string())
    reqs = reqs.set_column(reqs.schema.get_field_index("request_id"), "request_id", ids)
    # the trails: each request's template steps, shifted with it
    counts = np.bincount(step_t["tpl"].to_numpy(), minlength=len(req_t))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per = counts[tpl]
    owner = np.repeat(np.arange(n), per)
    within = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
    steps = step_t.take(pa.array(starts[tpl][owner] + within)).drop_columns(["tpl"])
    steps = steps.set_column(0, "request_id", ids.take(pa.array(owner)))
    steps = steps.set_column(2, "step_at", _shift(steps["step_at"], shift_us[owner]))
    built_s = time.perf_counter() - t0
    check = check_summaries(reqs, steps, desk, rng)
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    t0 = time.perf_counter()
    with open_store(str(db)) as store:
        con: Any = store.con  # type: ignore[attr-defined]
        for name, table in (("service_requests", reqs), ("request_steps", steps)):
            assert table.column_names == list(DESK_TABLES[name].column_names)
            con.register("__bench_rows", table)
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM __bench_rows")
            con.unregister("__bench_rows")
        con.execute("CHECKPOINT")
    write_s = time.perf_counter() - t0
    expected = {
        "due": [ids[i].as_py() for i in np.flatnonzero(group == 1)],
        "not_due": [ids[i].as_py() for i in np.flatnonzero(group == 2)],
        "steps": steps.num_rows,
        "requests": n,
    }
    Path(str(db) + ".json").write_text(json.dumps(expected))
    states = pc.value_counts(reqs["state"]).to_pylist()
    return {
        "requests": n, "steps": steps.num_rows, "templates": len(histories),
        "due": n_due, "not_due": n_wait, "settled_or_platform": n_settled,
        "states": {s["values"]: s["counts"] for s in states}, "build_s": built_s,
        "write_s": write_s, "summary_check": check,
        "db_mib": Path(db).stat().st_size / 2**20,
    }  # fmt: skip


def job_build(db: str, folder: str, n: int) -> dict[str, Any]:
    """The sweep's store, built in its own process (whose memory is then given back)."""
    from tiyan.policy.files import load_policy

    desk = load_policy(as_of=SWEEP_NOW.date()).desk
    market = Path(folder)
    histories = templates(market / "market", market / "desk-histories.jsonl", desk)
    return build_desk_store(Path(db), histories, desk, n)


def check_summaries(reqs: Any, steps: Any, desk: Any, rng: Any, sample: int = 400) -> int:
    """Recompute the summary of a sample of the built requests from their (shifted) trails
    with ``summarize``: every column must agree with the vectorised shift."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from tiyan.service_desk.history import summarize
    from tiyan.service_desk.requests import Step

    picks = sorted(set(rng.integers(reqs.num_rows, size=sample).tolist()))
    rows = reqs.take(pa.array(picks)).to_pylist()
    wanted = pa.array([r["request_id"] for r in rows])
    found = steps.filter(pc.is_in(steps["request_id"], value_set=wanted)).to_pylist()
    trails: dict[str, list[Any]] = {}
    for s in sorted(found, key=lambda s: (s["request_id"], s["seq"])):
        trails.setdefault(s["request_id"], []).append(
            Step(
                at=s["step_at"].replace(tzinfo=UTC),
                actor=s["actor"],
                action=s["action"],
                note=s["note"],
            )
        )
    for r in rows:
        trail = trails[r["request_id"]]
        got = summarize(trail, desk.calendar, hours=desk.hours_for(r["type_id"], r["set_hours"]),
                        resolve_hours=desk.resolve_hours)  # fmt: skip
        for field, value in got.__dict__.items():
            stored = r[field]
            if isinstance(value, datetime):
                value = _naive(value)
            if stored != value and not (field == "reopens" and not stored and not value):
                raise SystemExit(f"{r['request_id']}: {field} is {stored}, summarize says {value}")
        if (
            trail[-1].at.replace(tzinfo=None) != r["updated_at"]
            or trail[0].at.replace(tzinfo=None) != r["created_at"]
        ):
            raise SystemExit(f"{r['request_id']}: created/updated do not match the trail")
    return len(rows)


def job_sweep(db: str, now_iso: str, profile_to: str | None) -> dict[str, Any]:
    """The first sweep and, right after, the second (in this fresh process)."""
    from tiyan.jobs.desk import sweep_breaches
    from tiyan.policy.files import load_policy
    from tiyan.store import open_store

    now = datetime.fromisoformat(now_iso)
    desk = load_policy(as_of=now.date()).desk
    with open_store(db) as store:
        t0 = time.perf_counter()
        if profile_to:
            import cProfile

            prof = cProfile.Profile()
            first = prof.runcall(sweep_breaches, store, desk, now=now)
            prof.dump_stats(profile_to)
        else:
            first = sweep_breaches(store, desk, now=now)
        t1 = time.perf_counter()
        second = sweep_breaches(store, desk, now=now)
        t2 = time.perf_counter()
    Path(db + ".swept.json").write_text(json.dumps(first))
    return {"first_s": t1 - t0, "second_s": t2 - t1, "escalated": len(first),
            "escalated_again": len(second)}  # fmt: skip


def verify_sweep(db: Path, now: datetime) -> dict[str, Any]:
    """After the first sweep: exactly the due requests escalated, each with its breach step
    at the deadline; the rest untouched."""
    import pyarrow as pa

    from tiyan.policy.files import load_policy
    from tiyan.service_desk.requests import State, merchant_clock, replay
    from tiyan.store import open_store
    from tiyan.store.desk import get_request, load_trails

    expected = json.loads(Path(str(db) + ".json").read_text())
    swept = json.loads(Path(str(db) + ".swept.json").read_text())
    desk = load_policy(as_of=now.date()).desk
    problems: list[str] = []
    if sorted(swept) != sorted(expected["due"]):
        extra = set(swept) - set(expected["due"])
        missing = set(expected["due"]) - set(swept)
        problems.append(f"escalated {len(swept)}: {len(extra)} not due, {len(missing)} missed")
    with open_store(str(db), read_only=True) as store:
        con: Any = store.con  # type: ignore[attr-defined]
        con.register("__due", pa.table({"request_id": expected["due"]}))
        (good,) = con.execute(
            "SELECT count(*) FROM service_requests r JOIN __due USING (request_id) "
            "JOIN request_steps s ON s.request_id = r.request_id AND s.seq = 3 "
            "WHERE r.state = 'waiting_platform' AND r.merchant_breached "
            "AND s.action = 'breach' AND s.actor = 'system' AND s.step_at = r.merchant_due_at "
            "AND r.updated_at = s.step_at AND r.platform_since = s.step_at"
        ).fetchone()
        if good != len(expected["due"]):
            problems.append(f"{len(expected['due']) - good} due requests without their breach")
        (waiting,) = con.execute(
            "SELECT count(*) FROM service_requests WHERE state = 'waiting_merchant'"
        ).fetchone()
        if waiting != len(expected["not_due"]):
            problems.append(f"{waiting} wait on the merchant, {len(expected['not_due'])} expected")
        (steps,) = con.execute("SELECT count(*) FROM request_steps").fetchone()
        if steps != expected["steps"] + len(expected["due"]):
            problems.append(f"{steps} steps, {expected['steps'] + len(expected['due'])} expected")
        (breaches,) = con.execute(
            "SELECT count(*) FROM request_steps WHERE action = 'breach' AND seq = 3 "
            "AND request_id IN (SELECT request_id FROM __due)"
        ).fetchone()
        rng = random.Random(7)
        sample = rng.sample(expected["due"], min(300, len(expected["due"])))
        trails = load_trails(store, sample)
        for rid in sample:
            trail = trails[rid]
            r = get_request(store, rid)
            hours = desk.hours_for(r.type_id, r.set_hours)
            clock = merchant_clock(trail[:2], desk.calendar, hours=hours)
            if not (len(trail) == 3 and trail[2].action == "breach" and clock.due is not None
                    and trail[2].at == clock.due and clock.due <= now
                    and replay(trail) is State.WAITING_PLATFORM
                    and r.merchant_due_at == clock.due):  # fmt: skip
                problems.append(f"{rid}: {trail}, clock due {clock.due}")
                break
        for rid in rng.sample(expected["not_due"], min(100, len(expected["not_due"]))):
            trail = load_trails(store, [rid])[rid]
            r = get_request(store, rid)
            hours = desk.hours_for(r.type_id, r.set_hours)
            clock = merchant_clock(trail, desk.calendar, hours=hours)
            if len(trail) != 2 or clock.due is None or clock.due <= now:
                problems.append(f"{rid} (not due): {trail}, clock due {clock.due}")
                break
    return {"problems": problems, "sampled_against_clock": len(sample), "breach_steps": breaches,
            "ok": not problems}  # fmt: skip


def print_profile(path: Path, top: int = 30) -> str:
    import io
    import pstats

    out = io.StringIO()
    st = pstats.Stats(str(path), stream=out)
    st.sort_stats("cumulative").print_stats(top)
    st.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def bench_sweep(work: Path, orders: int, merchants: int, n: int, repeat: int, profile: bool
                ) -> dict[str, Any]:  # fmt: skip
    folder = work / f"scoring-{orders}" if orders != 1_000_000 else work / "scoring"
    out: dict[str, Any] = {"prepare": prepare_market(folder, orders, merchants)}
    pristine = work / f"desk-{n}-{orders}.duckdb"
    stamp = Path(str(pristine) + ".built.json")
    if stamp.exists() and pristine.exists():
        say(f"reusing {pristine}")
        out["build"] = dict(json.loads(stamp.read_text()), reused=True)
    else:
        say(f"building {n:,} requests from the desk's histories of {folder / 'market'}")
        out["build"] = run_child(job_build, str(pristine), str(folder), n)
        stamp.write_text(json.dumps(out["build"]))
    b = out["build"]
    say(f"  {b['requests']:,} requests, {b['steps']:,} steps, {b['due']:,} due, "
        f"{b['not_due']:,} running; built {b['build_s']:.1f} s, "
        f"written {b['write_s']:.1f} s")  # fmt: skip
    scratch = work / "sweep.duckdb"
    runs = []
    for i in range(repeat):
        copy_store(pristine, scratch)
        (work / "sweep.duckdb.json").write_text(Path(str(pristine) + ".json").read_text())
        say(f"sweep {i + 1}/{repeat}")
        load_before = loadavg()
        r = run_child(job_sweep, str(scratch), SWEEP_NOW.isoformat(), None)
        r["load"] = [load_before, loadavg()]
        say(f"  first {r['first_s']:.2f} s ({r['escalated']:,} escalated), second "
            f"{r['second_s']:.3f} s ({r['escalated_again']} escalated)")  # fmt: skip
        if i == 0:
            out["verify"] = verify_sweep(scratch, SWEEP_NOW)
            say(f"  verified: {out['verify']}")
        runs.append(r)
    out["sweep"] = min(runs, key=lambda r: r["first_s"]) | {
        "runs_first_s": [round(r["first_s"], 3) for r in runs],
        "runs_second_s": [round(r["second_s"], 4) for r in runs],
        "peak_mib": max(r["peak_mib"] for r in runs),
    }
    if profile:
        copy_store(pristine, scratch)
        (work / "sweep.duckdb.json").write_text(Path(str(pristine) + ".json").read_text())
        prof = work / "sweep.prof"
        say("sweep under cProfile")
        out["profiled"] = run_child(job_sweep, str(scratch), SWEEP_NOW.isoformat(), str(prof))
        out["profile_text"] = print_profile(prof)
    # the reference: a day's scoring run on the same market (metrics_bench's jobs)
    from tiyan.sim import SimConfig

    as_of = SimConfig().start + timedelta(days=90)
    full_db, next_db = work / "score-full.duckdb", work / "score-next.duckdb"
    full, nxt = [], []
    for i in range(repeat):
        copy_store(folder / "pristine.duckdb", full_db)
        say(f"scoring run, full (first), as of {as_of} ({i + 1}/{repeat})")
        load_before = loadavg()
        r = run_child(job_catalog, str(full_db), as_of, MEMORY_LIMIT)
        r["load"] = [load_before, loadavg()]
        full.append(r)
        say(f"  {r['seconds']:.2f} s")
        copy_store(full_db, next_db)
        say(f"scoring run, next day, as of {as_of + timedelta(days=1)}")
        load_before = loadavg()
        r = run_child(job_catalog, str(next_db), as_of + timedelta(days=1), MEMORY_LIMIT)
        r["load"] = [load_before, loadavg()]
        nxt.append(r)
        say(f"  {r['seconds']:.2f} s")
    out["score_full"], out["score_next"] = best_of(full), best_of(nxt)
    for p in (scratch, full_db, next_db):
        for suffix in ("", ".wal"):
            Path(str(p) + suffix).unlink(missing_ok=True)
    return out


# -- report ----------------------------------------------------------------------------------


def fmt(x: float, digits: int = 1) -> str:
    return "—" if x != x else f"{x:,.{digits}f}"


def api_table(api: dict[str, Any]) -> str:
    lines = [
        "| scenario | p50 ms | p95 ms | p99 ms | max ms | achieved req/s | "
        "non-2xx, unanswered | load before → after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for rate, sc in api["scenarios"].items():
        ev, dk = sc["events"], sc["desk"]
        for label, s, rps, bad, lost, load in (
            (f"@ {rate} req/s: `POST /v1/events` (1 review), {ev['batches']:,} batches",
             ev["batch"], fmt(ev["achieved_rps"]), ev["non_2xx"], ev["unanswered"], ev["load"]),
            (f"@ {rate} req/s: open `POST /v1/service-requests`, {dk['ops']:,}", dk["open"],
             f"{fmt(dk['achieved_rps'])} (both)", dk["open_non_2xx"], dk["open_unanswered"],
             dk["load"]),
            (f"@ {rate} req/s: answer `POST …/steps`, {dk['ops']:,}", dk["answer"], "",
             dk["answer_non_2xx"], dk["answer_unanswered"], ""),
        ):  # fmt: skip
            ge = "≥ " if lost else ""
            lines.append(
                f"| {label} | {ge}{fmt(s['p50_ms'])} | {ge}{fmt(s['p95_ms'])} | "
                f"{ge}{fmt(s['p99_ms'])} | {ge}{fmt(s['max_ms'], 0)} | {rps} | {bad}, {lost} | "
                f"{' → '.join(load) if load else ''} |"
            )
        ref = ev["batch"]["p99_ms"]
        lines.append(
            f"| **ratio @ {rate} req/s**: p99 open / events, answer / events | | | "
            f"**{fmt(dk['open']['p99_ms'] / ref, 3)}**, **{fmt(dk['answer']['p99_ms'] / ref, 3)}**"
            " | | | | |"
        )
    return "\n".join(lines)


def sweep_table(sw: dict[str, Any]) -> str:
    nxt, full = sw["score_next"]["seconds"], sw["score_full"]["seconds"]
    b = sw["build"]
    s = sw["sweep"]
    lines = [
        "| job | seconds | peak MiB | vs next-day scoring | vs full scoring "
        "| load before → after |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, sec, peak, load in (
        (f"first sweep ({s['escalated']:,} of {b['requests']:,} requests escalated)",
         s["first_s"], s["peak_mib"], s["load"]),
        (f"second sweep right after ({s['escalated_again']} escalated)", s["second_s"], None,
         None),
        ("scoring run, next day", nxt, sw["score_next"]["peak_mib"], sw["score_next"]["load"]),
        ("scoring run, full (first)", full, sw["score_full"]["peak_mib"],
         sw["score_full"]["load"]),
    ):  # fmt: skip
        lines.append(
            f"| {label} | {sec:.3f} | {fmt(peak, 0) if peak else ''} | **{sec / nxt:.2f}** | "
            f"{sec / full:.2f} | {' → '.join(load) if load else ''} |"
        )
    return "\n".join(lines)


def code_measured() -> dict[str, Any]:
    """Which tiyan this run imports: its tree, the commit, and local edits to it."""
    import tiyan

    src = Path(tiyan.__file__).resolve().parent.parent

    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(src), *a], capture_output=True, text=True).stdout

    dirty = git("status", "--porcelain", "--", ".").split("\n")
    commit = git("rev-parse", "HEAD").strip()
    stamp = src.parent / "COMMIT"  # an export (git archive) may say what it was
    if not commit and stamp.exists():
        commit = stamp.read_text().strip() + " (exported)"
    return {"src": str(src), "commit": commit or "(not a checkout)",
            "dirty": [d.strip() for d in dirty if d.strip()]}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "deskbench")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    p.add_argument("--profile", action="store_true", help="the first sweep under cProfile too")
    p.add_argument("--only", choices=("api", "sweep"), default=None)
    p.add_argument("--rates", default=None, help="write requests/s, comma-separated (5,20,50)")
    p.add_argument("--seconds", type=float, default=None, help="measured seconds per scenario")
    p.add_argument("--requests", type=int, default=None, help="requests in the sweep's store")
    p.add_argument("--repeat", type=int, default=None, help="sweep and scoring runs (best kept)")
    args = p.parse_args()
    quick = args.quick
    rates = [float(x) for x in (args.rates or ("20" if quick else "5,20,50")).split(",")]
    seconds = args.seconds or (8.0 if quick else 60.0)
    n_requests = args.requests or (20_000 if quick else 1_000_000)
    repeat = args.repeat or (1 if quick else 2)
    market = (20_000, 200) if quick else (1_000_000, 5_000)
    api_market = (20_000, 200) if quick else (100_000, 1_000)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "load_start": loadavg(),
                               "started": datetime.now(UTC).isoformat(),
                               "code": code_measured()}  # fmt: skip
    say(f"machine {results['machine']}; code {results['code']}")
    t0 = time.perf_counter()
    if args.only in (None, "api"):
        results["api"] = bench_api(work, *api_market, rates, seconds, 10 if quick else 40)
    if args.only in (None, "sweep"):
        results["sweep"] = bench_sweep(work, *market, n_requests, repeat, args.profile)
    results["load_end"] = loadavg()
    results["wall_s"] = time.perf_counter() - t0
    (work / "desk.json").write_text(json.dumps(results, indent=2, default=str))
    m = results["machine"]
    print(f"\nMachine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python "
          f"{m['python']}, DuckDB {m['duckdb']}; {m['date']}. Load average (1/5/15 min) at "
          f"the start {results['load_start']}, at the end {results['load_end']}; "
          f"{results['wall_s'] / 60:.1f} min in all. Code: {results['code']['src']} at "
          f"{results['code']['commit'][:12]}"
          + (f" with local edits to {', '.join(results['code']['dirty'])}"
             if results["code"]["dirty"] else "") + ".\n")  # fmt: skip
    if "api" in results:
        api = results["api"]
        print(f"API: `tiyan serve` on DuckDB, {api_market[0]:,} orders, {api_market[1]:,} "
              f"merchants ({api['merchant_keys']} merchant keys); opens and answers "
              f"alternate, half the rate each.\n")  # fmt: skip
        print(api_table(api))
        rb = api["read_back"]
        print(f"\nRead back by an agent: {rb['checked']} requests, {len(rb['bad'])} wrong; "
              f"`GET /v1/service-requests` (the whole queue, {rb['queue_items']} open) took "
              f"{rb['queue_s']:.2f} s. Landed in the store: "
              + "; ".join(f"@{r}: {'all' if g['verified'] else 'NOT ALL'} ({g['opened']} "
                          f"opened, {g['answered']} answered, {g['reviews_accepted']} reviews; "
                          f"{g['requests_in_store']} requests in the store)"
                          for r, g in api["landed"].items()))  # fmt: skip
        for rate, sc in api["scenarios"].items():
            for what in ("events", "desk"):
                if sc[what]["problems"]:
                    print(f"problems @ {rate} {what}: {sc[what]['problems']}")
            late = sc["desk"]["answers_after_late_open"]
            if late:
                print(f"@ {rate}: {late} answers waited for an opening slower than "
                      f"{ANSWER_LAG:g} s")  # fmt: skip
    if "sweep" in results:
        sw = results["sweep"]
        b = sw["build"]
        print(f"\nSweep: {b['requests']:,} requests ({b['steps']:,} steps; {b['due']:,} due, "
              f"{b['not_due']:,} waiting on the merchant and not yet due), now = "
              f"{SWEEP_NOW.isoformat()}; scoring on {market[0]:,} orders, {market[1]:,} "
              f"merchants; best of {repeat}.\n")  # fmt: skip
        print(sweep_table(sw))
        v = sw["verify"]
        print(f"\nChecked: {'all good' if v['ok'] else 'PROBLEMS: ' + '; '.join(v['problems'])}"
              f" ({v['sampled_against_clock']} sampled against merchant_clock; summaries of "
              f"{b['summary_check']} built requests against summarize).")  # fmt: skip
        if "profile_text" in sw:
            print("\ncProfile of the first sweep:\n")
            print(sw["profile_text"])


if __name__ == "__main__":
    main()
