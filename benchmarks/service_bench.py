"""HTTP service benchmark: ``make bench-service`` (or ``python benchmarks/service_bench.py
[--orders N --merchants M --engines duckdb,postgres,postgres-w2 --seconds S]``).

Prepares once (cached under ``--cache``, keyed by size) a simulated market ingested, scored and
enforced in a DuckDB store; each run works on a copy of it, and loads the same files into a
PostgreSQL schema (``bench_service``, dropped at the end). Then, for each engine, it starts
``tiyan serve --quiet`` in a subprocess on a free loopback port and measures from a SECOND
process (the load generator, asyncio over raw HTTP/1.1 keep-alive connections):

* **decisions**: ``POST /v1/decisions/express-refund`` on real orders (half shipped, half not)
  at fixed arrival rates (open loop: latency counts from the *scheduled* send time, so a
  server that falls behind is charged for the queue: no coordinated omission);
* **healthz**: a bare ``GET /healthz`` at the same rates on the same server: the HTTP floor;
* **events**: ``POST /v1/events`` in batches of 500 (new orders paid, shipped, picked up,
  tracked), one sender and two concurrent senders; afterwards the rows are counted in the
  store — every accepted event must have landed, or the run fails;
* **file ingest**: the same rows written to CSV and loaded by ``tiyan ingest`` (timed around
  the load call, in a fresh process): the reference for event throughput.

Prints a Markdown table (the one in the "Service" section of docs/benchmarks.md) and writes
``benchmarks/out/service.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
BIN = Path(sys.executable).parent
TIYAN = str(BIN / "tiyan")
DAYS = 90
SEED = 7
START = date(2024, 5, 1)  # the simulator's default start (src/tiyan/sim/config.py)
AS_OF = START + timedelta(days=DAYS)
PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "bench_service"
BATCH = 500
CONNECTIONS = 64
DRAIN_SECONDS = 10.0

CARRIERS = ("ZTO", "YTO", "YUNDA", "JT", "SF")
REGIONS = ("浙江", "广东", "江苏", "上海", "北京", "四川")
CHANNELS = ("live", "video", "shelf", "search", "store")


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


# -- the market ---------------------------------------------------------------------------


def prepare_duckdb(cache: Path, orders: int, merchants: int) -> Path:
    """The simulated, ingested, scored and enforced DuckDB store (cached), and its files."""
    folder = cache / f"{orders}o-{merchants}m-{DAYS}d-s{SEED}"
    ready = folder / "ready.json"
    if ready.exists():
        say(f"reusing {folder}")
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = str(folder / "market.duckdb")
    steps: dict[str, float] = {}
    for name, cmd in (
        ("simulate", [TIYAN, "simulate", "--merchants", str(merchants), "--orders", str(orders),
                      "--days", str(DAYS), "--seed", str(SEED), "--out", str(folder / "data")]),
        ("ingest", [TIYAN, "ingest", str(folder / "data"), "--db", db]),
        ("score", [TIYAN, "score", "--as-of", AS_OF.isoformat(), "--db", db]),
        ("enforce", [TIYAN, "enforce", "--as-of", AS_OF.isoformat(), "--db", db]),
    ):  # fmt: skip
        say(f"duckdb: {name}")
        t0 = time.perf_counter()
        run(cmd)
        steps[name] = round(time.perf_counter() - t0, 2)
    ready.write_text(json.dumps(steps))
    return folder


def pg_url(schema: str = PG_SCHEMA) -> str:
    return f"{PG_BASE}?schema={schema}"


def pg_drop(schema: str = PG_SCHEMA) -> None:
    import psycopg

    with psycopg.connect(PG_BASE, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def prepare_postgres(folder: Path, enforce_timeout: float) -> dict[str, Any]:
    """The same files loaded into a fresh schema, scored, enforced (within a time bound)."""
    pg_drop()
    url = pg_url()
    steps: dict[str, Any] = {}
    for name, cmd in (
        ("ingest", [TIYAN, "ingest", str(folder / "data"), "--db", url]),
        ("score", [TIYAN, "score", "--as-of", AS_OF.isoformat(), "--db", url]),
    ):
        say(f"postgres: {name}")
        t0 = time.perf_counter()
        run(cmd)
        steps[name] = round(time.perf_counter() - t0, 2)
    say(f"postgres: enforce (at most {enforce_timeout:.0f} s)")
    t0 = time.perf_counter()
    cmd = [TIYAN, "enforce", "--as-of", AS_OF.isoformat(), "--db", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=enforce_timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"postgres enforce failed:\n{stderr}")
        steps["enforce"] = round(time.perf_counter() - t0, 2)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate()
        last = [x for x in stderr.splitlines() if "detecting" in x][-1:]
        steps["enforce"] = f"stopped after {enforce_timeout:.0f} s ({' '.join(last)})"
        say(f"postgres: enforce {steps['enforce']}")
        # the enforcement's cursor query may still run in the server: stop it
        import psycopg

        with psycopg.connect(PG_BASE, autocommit=True) as con:
            con.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'test' AND pid <> pg_backend_pid() AND query LIKE 'FETCH%'"
            )
    return steps


def store_query(engine: str, db: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """A query on the store (DuckDB: only while no server holds the file)."""
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect(db, read_only=True)
        try:
            return con.execute(sql, list(params)).fetchall()
        finally:
            con.close()
    import psycopg

    with psycopg.connect(PG_BASE) as con:
        con.execute(f'SET search_path TO "{PG_SCHEMA}"')
        return con.execute(sql.replace("?", "%s"), params).fetchall()


def pick_orders(db: str, n: int) -> list[str]:
    """``n`` real order ids, half with a shipment and half without."""
    shipped = store_query(
        "duckdb", db,
        "SELECT order_id FROM orders WHERE order_id IN (SELECT order_id FROM shipments) "
        "ORDER BY hash(order_id) LIMIT ?", (n // 2,),
    )  # fmt: skip
    unshipped = store_query(
        "duckdb", db,
        "SELECT order_id FROM orders WHERE order_id NOT IN (SELECT order_id FROM shipments) "
        "ORDER BY hash(order_id) LIMIT ?", (n - n // 2,),
    )  # fmt: skip
    ids = [r[0] for r in shipped + unshipped]
    random.Random(SEED).shuffle(ids)
    return ids


# -- events -------------------------------------------------------------------------------


def _ts(day: date, minutes: int) -> str:
    t = datetime(day.year, day.month, day.day, 9) + timedelta(minutes=minutes)
    return t.isoformat() + "+08:00"


@dataclass
class EventStream:
    """A stream of new orders, each paid, then (in later batches) shipped, picked up and
    scanned: 200 order.paid, 100 order.shipped, 100 shipment.picked_up and 100
    tracking.event per batch of 500. A change always follows its creation by a batch."""

    prefix: str
    merchants: list[str]

    def batches(self, n: int) -> list[list[dict[str, Any]]]:
        out = []
        for b in range(n):
            items: list[dict[str, Any]] = []
            for k in range(200 * b, 200 * b + 200):
                items.append(self._paid(k))
            for k in range(200 * (b - 1), 200 * (b - 1) + 200, 2) if b >= 1 else ():
                items.append(self._shipped(k))
            for k in range(200 * (b - 2), 200 * (b - 2) + 200, 2) if b >= 2 else ():
                items.append(self._picked_up(k))
                items.append(self._tracking(k))
            # the first two batches have no older orders to change: more new orders
            k = 200 * n + 300 * b
            while len(items) < BATCH:
                items.append(self._paid(k))
                k += 1
            out.append(items)
        return out

    def _day(self, k: int) -> date:
        return START + timedelta(days=60 + k % 29)

    def _paid(self, k: int) -> dict[str, Any]:
        day = self._day(k)
        return {"id": f"{self.prefix}-p{k}", "type": "order.paid", "data": {
            "order_id": f"{self.prefix}-O{k}",
            "merchant_id": self.merchants[k % len(self.merchants)],
            "amount": f"{10 + k % 490}.{k % 100:02d}", "paid_at": _ts(day, k % 600),
            "status": "paid", "channel": CHANNELS[k % len(CHANNELS)],
            "promised_ship_by": _ts(day + timedelta(days=2), k % 600),
        }}  # fmt: skip

    def _shipped(self, k: int) -> dict[str, Any]:
        day = self._day(k)
        return {"id": f"{self.prefix}-s{k}", "type": "order.shipped", "data": {
            "shipment_id": f"{self.prefix}-S{k}", "order_id": f"{self.prefix}-O{k}",
            "carrier": CARRIERS[k % len(CARRIERS)], "tracking_no": f"{self.prefix}T{k}",
            "shipped_at": _ts(day, k % 600 + 120),
        }}  # fmt: skip

    def _picked_up(self, k: int) -> dict[str, Any]:
        return {"id": f"{self.prefix}-u{k}", "type": "shipment.picked_up", "data": {
            "shipment_id": f"{self.prefix}-S{k}", "pickup_at": _ts(self._day(k), k % 600 + 300),
        }}  # fmt: skip

    def _tracking(self, k: int) -> dict[str, Any]:
        return {"id": f"{self.prefix}-t{k}", "type": "tracking.event", "data": {
            "tracking_no": f"{self.prefix}T{k}", "carrier": CARRIERS[k % len(CARRIERS)],
            "event_at": _ts(self._day(k), k % 600 + 300), "status": "pickup",
            "region": REGIONS[k % len(REGIONS)],
        }}  # fmt: skip


def expected_rows(batches: list[list[dict[str, Any]]]) -> dict[str, int]:
    tables = {
        "order.paid": "orders",
        "order.shipped": "shipments",
        "tracking.event": "tracking_events",
    }
    out = {"orders": 0, "shipments": 0, "tracking_events": 0, "picked_up": 0, "events": 0}
    for batch in batches:
        for item in batch:
            out["events"] += 1
            if item["type"] in tables:
                out[tables[item["type"]]] += 1
            else:
                out["picked_up"] += 1
    return out


def count_rows(engine: str, db: str, prefix: str) -> dict[str, int]:
    like = (f"{prefix}-%",)
    q = {
        "orders": "SELECT count(*) FROM orders WHERE order_id LIKE ?",
        "shipments": "SELECT count(*) FROM shipments WHERE shipment_id LIKE ?",
        "tracking_events": "SELECT count(*) FROM tracking_events WHERE tracking_no LIKE ?",
        "picked_up": "SELECT count(*) FROM shipments WHERE shipment_id LIKE ? "
        "AND pickup_at IS NOT NULL",
        "events": "SELECT count(*) FROM event_log WHERE event_id LIKE ?",
    }
    tr = (prefix + "T%",)
    return {
        k: int(store_query(engine, db, sql, tr if k == "tracking_events" else like)[0][0])
        for k, sql in q.items()
    }


def write_files(batches: list[list[dict[str, Any]]], folder: Path) -> int:
    """The rows the events make, as the CSV files a bare ``tiyan ingest`` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, dict[str, Any]]] = {
        "orders": {},
        "shipments": {},
        "tracking_events": {},
    }
    for batch in batches:
        for item in batch:
            d = item["data"]
            if item["type"] == "order.paid":
                rows["orders"][d["order_id"]] = dict(d)
            elif item["type"] == "order.shipped":
                rows["shipments"][d["shipment_id"]] = dict(d)
            elif item["type"] == "shipment.picked_up":
                rows["shipments"][d["shipment_id"]]["pickup_at"] = d["pickup_at"]
            else:
                key = "/".join((d["carrier"], d["tracking_no"], d["event_at"], d["status"]))
                rows["tracking_events"][key] = dict(d)
    total = 0
    for table, by_key in rows.items():
        fields = sorted({f for r in by_key.values() for f in r})
        with (folder / f"{table}.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(by_key.values())
        total += len(by_key)
    return total


def _file_ingest(db: str, folder: str, queue: Any) -> None:
    from tiyan.ingest.load import ingest
    from tiyan.store import open_store

    store = open_store(db)
    try:
        t0 = time.perf_counter()
        report = ingest(store, [Path(folder)], now=datetime.now(UTC))
        seconds = time.perf_counter() - t0
        queue.put({"seconds": seconds, "read": report.read, "quarantined": report.quarantined})
    finally:
        store.close()


def file_ingest(db: str, folder: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_file_ingest, args=(db, str(folder), queue))
    p.start()
    result = queue.get(timeout=600)
    p.join()
    return dict(result)


# -- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``tiyan serve --quiet`` in its own session (so its workers stop with it)."""

    def __init__(self, db: str, workers: int) -> None:
        self.port = free_port()
        cmd = [TIYAN, "serve", "--db", db, "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", str(workers), "--quiet", "--rate-limit", "1000000"]  # fmt: skip
        self.log = open(OUT / f"serve-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/healthz", timeout=2
                ) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"tiyan serve did not start: see {self.log.name}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def create_key(db: str) -> str:
    proc = run([TIYAN, "keys", "create", "--role", "service", "--label", "bench", "--db", db,
                "--json"])  # fmt: skip
    return str(json.loads(proc.stdout)["key"])


# -- the load generator (runs in its own process) -----------------------------------------


class Conn:
    """One keep-alive HTTP/1.1 connection: a request writer and a Content-Length (or
    chunked) response reader, nothing more."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(head + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        chunked = close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(p[:-2] for p in parts)
        else:
            data = await self.reader.readexactly(length or 0)
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def http_head(method: str, path: str, key: str | None, length: int | None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if key:
        head += f"Authorization: Bearer {key}\r\n"
    if length is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
    return (head + "\r\n").encode()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s)) - 1))]


async def open_loop(port: int, key: str, target: str, rate: float, warmup: float,
                    seconds: float, order_ids: list[str]) -> dict[str, Any]:  # fmt: skip
    """Requests scheduled at a fixed rate; each latency from its scheduled time."""
    if target == "healthz":
        requests = [(http_head("GET", "/healthz", None, None), b"")]
    else:
        requests = []
        for oid in order_ids:
            body = json.dumps({"order_id": oid, "amount": "10.00", "type": "refund_only",
                               "reason": "no_reason_7d"}).encode()  # fmt: skip
            requests.append((http_head("POST", "/v1/decisions/express-refund", key, len(body)),
                             body))  # fmt: skip
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    outcomes: dict[str, int] = {}
    start = time.perf_counter() + 0.2
    measure_from = start + warmup
    end = measure_from + seconds
    done_in_window = 0

    async def worker() -> None:
        nonlocal done_in_window
        conn = Conn(port)
        while (job := await queue.get()) is not None:
            i, scheduled = job
            head, body = requests[i % len(requests)]
            try:
                status, data = await conn.request(head, body)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                conn.close()
                if scheduled >= measure_from:
                    errors.append(type(exc).__name__)
                continue
            now = time.perf_counter()
            if scheduled < measure_from:
                continue
            latencies.append(now - scheduled)
            statuses[status] = statuses.get(status, 0) + 1
            if now <= end:
                done_in_window += 1
            if target != "healthz" and status == 200 and i % 50 == 0:
                outcome = json.loads(data).get("outcome", "?")
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(CONNECTIONS)]
    sent = 0
    total = int((warmup + seconds) * rate)
    while sent < total:
        now = time.perf_counter()
        due = min(total, int((now - start) * rate) + 1) if now >= start else 0
        while sent < due:
            queue.put_nowait((sent, start + sent / rate))
            sent += 1
        await asyncio.sleep(max(0.0, min(0.002, start + sent / rate - time.perf_counter())))
    for _ in workers:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(workers, timeout=DRAIN_SECONDS + (end - time.perf_counter()))
    for t in pending:
        t.cancel()
    scheduled_n = int(seconds * rate)
    answered = len(latencies) + len(errors)
    return {
        "target": target, "rate": rate, "seconds": seconds, "scheduled": scheduled_n,
        "completed": len(latencies), "achieved_rps": done_in_window / seconds,
        "p50_ms": pct(latencies, 0.50) * 1e3, "p99_ms": pct(latencies, 0.99) * 1e3,
        "max_ms": max(latencies) * 1e3 if latencies else float("nan"),
        "errors": len(errors) + max(0, scheduled_n - answered),
        "non_2xx": sum(n for s, n in statuses.items() if not 200 <= s < 300),
        "statuses": {str(k): v for k, v in statuses.items()}, "outcomes": outcomes,
    }  # fmt: skip


async def send_events(port: int, key: str, streams: list[list[list[dict[str, Any]]]]
                      ) -> dict[str, Any]:  # fmt: skip
    """Each stream's batches in order, the streams concurrently (one connection each)."""
    latencies: list[float] = []
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "non_2xx": 0}
    problems: list[Any] = []

    async def sender(batches: list[list[dict[str, Any]]]) -> None:
        conn = Conn(port)
        for batch in batches:
            body = json.dumps({"items": batch}).encode()
            t0 = time.perf_counter()
            status, data = await conn.request(http_head("POST", "/v1/events", key, len(body)), body)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                counts["non_2xx"] += 1
                problems.append(data[:300].decode(errors="replace"))
                continue
            answer = json.loads(data)
            for k in ("accepted", "duplicate", "rejected"):
                counts[k] += answer[k]
            if answer["rejected"] and len(problems) < 3:
                problems.append([i for i in answer["items"] if i["status"] == "rejected"][:2])
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(sender(s) for s in streams))
    wall = time.perf_counter() - t0
    events = sum(len(b) for s in streams for b in s)
    return {
        "senders": len(streams), "batches": len(latencies), "events": events, "seconds": wall,
        "events_per_s": events / wall, "p50_ms": pct(latencies, 0.5) * 1e3,
        "p99_ms": pct(latencies, 0.99) * 1e3, "max_ms": max(latencies) * 1e3, **counts,
        "problems": problems[:3],
    }  # fmt: skip


def _loadgen(job: dict[str, Any], queue: Any) -> None:
    if job["kind"] == "events":
        queue.put(asyncio.run(send_events(job["port"], job["key"], job["streams"])))
    else:
        args = (job[k] for k in ("port", "key", "target", "rate", "warmup", "seconds", "order_ids"))
        queue.put(asyncio.run(open_loop(*args)))


def loadgen(job: dict[str, Any]) -> dict[str, Any]:
    """Run one load job in a fresh process (not the server's, not this one)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_loadgen, args=(job, queue))
    p.start()
    try:
        result = queue.get(timeout=600)
    finally:
        p.join(timeout=30)
    return dict(result)


# -- one engine ---------------------------------------------------------------------------


def bench_engine(
    name: str, engine: str, db: str, workers: int, args: argparse.Namespace,
    order_ids: list[str], merchants: list[str], tag: str,
) -> dict[str, Any]:  # fmt: skip
    key = create_key(db)
    result: dict[str, Any] = {"engine": name, "load": {}, "events": {}}
    server = Server(db, workers)
    prefix = f"SB{tag}{name.replace('-', '')}"
    batches_per = args.event_batches
    seq = EventStream(f"{prefix}q", merchants).batches(batches_per)
    duo = [EventStream(f"{prefix}c{j}", merchants).batches(batches_per // 2) for j in range(2)]
    try:
        for rate in args.rates:
            for target in ("healthz", "decision"):
                say(f"{name}: {target} at {rate:g} req/s")
                r = loadgen({"kind": "open", "port": server.port, "key": key, "target": target,
                             "rate": rate, "warmup": args.warmup, "seconds": args.seconds,
                             "order_ids": order_ids})  # fmt: skip
                result["load"][f"{target}@{rate:g}"] = r
                say(f"  p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                    f"{r['achieved_rps']:.0f} req/s, errors {r['errors']}, "
                    f"non-2xx {r['non_2xx']}")  # fmt: skip
        for label, streams in (("sequential", [seq]), ("2 senders", duo)):
            say(f"{name}: events, {label}")
            r = loadgen({"kind": "events", "port": server.port, "key": key, "streams": streams})
            result["events"][label] = r
            say(f"  {r['events_per_s']:.0f} events/s, p50 {r['p50_ms']:.0f} ms, "
                f"p99 {r['p99_ms']:.0f} ms, accepted {r['accepted']}, "
                f"rejected {r['rejected']}")  # fmt: skip
    finally:
        server.stop()
    # every accepted event must be in the store
    for label, streams, prefixes in (
        ("sequential", [seq], [f"{prefix}q"]),
        ("2 senders", duo, [f"{prefix}c0", f"{prefix}c1"]),
    ):
        want = expected_rows([b for s in streams for b in s])
        got: dict[str, int] = {}
        for pre in prefixes:
            for k, v in count_rows(engine, db, pre).items():
                got[k] = got.get(k, 0) + v
        result["events"][label]["landed"] = got
        result["events"][label]["verified"] = got == want
        if got != want:
            say(f"{name}: events {label}: DATA LOST OR WRONG: expected {want}, found {got}")
    # the reference: the same rows from files, through a bare `tiyan ingest`
    folder = OUT / f"files-{prefix}"
    rows = write_files(EventStream(f"{prefix}f", merchants).batches(batches_per), folder)
    say(f"{name}: tiyan ingest of the same {rows} rows from CSV")
    ref = file_ingest(db, folder)
    ref["rows"] = rows
    ref["rows_per_s"] = rows / ref["seconds"]
    ref["events_per_s"] = len(seq) * BATCH / ref["seconds"]
    result["file_ingest"] = ref
    shutil.rmtree(folder, ignore_errors=True)
    say(
        f"  {ref['rows_per_s']:.0f} rows/s ({ref['seconds']:.2f} s), "
        f"quarantined {ref['quarantined']}"
    )
    return result


def code_measured() -> dict[str, Any]:
    """Which tiyan the servers run: the imported package's tree, its commit, local edits."""
    import tiyan

    src = Path(tiyan.__file__).resolve().parent.parent

    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(src), *a], capture_output=True, text=True).stdout

    dirty = git("status", "--porcelain", "--", ".").strip()
    return {"src": str(src), "commit": git("rev-parse", "HEAD").strip(), "dirty": bool(dirty)}


# -- report -------------------------------------------------------------------------------


def fmt(x: float, digits: int = 1) -> str:
    return "—" if x != x else f"{x:,.{digits}f}"


def table(results: list[dict[str, Any]], rates: list[float]) -> str:
    names = [r["engine"] for r in results]
    lines = ["| scenario | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def row(label: str, cell: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")

    for rate in rates:
        for target, label in (("decision", "express refund"), ("healthz", "GET /healthz")):
            k = f"{target}@{rate:g}"
            row(f"{label} @ {rate:g} req/s: p50 / p99 / max ms",
                lambda r, k=k: f"{fmt(r['load'][k]['p50_ms'])} / {fmt(r['load'][k]['p99_ms'])} / "
                f"{fmt(r['load'][k]['max_ms'], 0)}")  # fmt: skip
            row(f"{label} @ {rate:g} req/s: achieved req/s, errors, non-2xx",
                lambda r, k=k: f"{fmt(r['load'][k]['achieved_rps'], 0)}, {r['load'][k]['errors']}, "
                f"{r['load'][k]['non_2xx']}")  # fmt: skip
        k1, k2 = f"decision@{rate:g}", f"healthz@{rate:g}"
        row(f"**ratio** decision / healthz @ {rate:g} req/s (p50, p99)",
            lambda r, k1=k1, k2=k2: f"{fmt(r['load'][k1]['p50_ms'] / r['load'][k2]['p50_ms'])}, "
            f"{fmt(r['load'][k1]['p99_ms'] / r['load'][k2]['p99_ms'])}")  # fmt: skip
    for label in ("sequential", "2 senders"):
        row(
            f"events, {label}: events/s",
            lambda r, label=label: fmt(r["events"][label]["events_per_s"], 0),
        )
        row(f"events, {label}: batch p50 / p99 ms",
            lambda r, label=label: f"{fmt(r['events'][label]['p50_ms'], 0)} / "
            f"{fmt(r['events'][label]['p99_ms'], 0)}")  # fmt: skip
        row(f"events, {label}: accepted / rejected, all landed",
            lambda r, label=label: f"{r['events'][label]['accepted']:,} / "
            f"{r['events'][label]['rejected']}, "
            f"{'yes' if r['events'][label]['verified'] else '**NO**'}")  # fmt: skip
    row("bare `tiyan ingest` of the same rows (CSV): rows/s",
        lambda r: f"{fmt(r['file_ingest']['rows_per_s'], 0)} ({r['file_ingest']['rows']:,} rows "
        f"in {r['file_ingest']['seconds']:.2f} s)")  # fmt: skip
    row(
        "**ratio** API events/s (sequential) / file rows/s",
        lambda r: fmt(
            r["events"]["sequential"]["events_per_s"] / r["file_ingest"]["rows_per_s"], 2
        ),
    )
    return "\n".join(lines)


def aims(results: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in results:
        d = r["load"].get("decision@500")
        if d is not None:
            ok = d["p99_ms"] <= 20 and d["errors"] == 0 and d["non_2xx"] == 0
            out.append(f"- {r['engine']}: decision p99 ≤ 20 ms at 500 req/s — "
                       f"**{'met' if ok else 'not met'}** (p99 {fmt(d['p99_ms'])} ms, "
                       f"{fmt(d['achieved_rps'], 0)} req/s achieved)")  # fmt: skip
        best = max(e["events_per_s"] for e in r["events"].values())
        ok = best >= 10_000 and all(e["verified"] for e in r["events"].values())
        out.append(f"- {r['engine']}: ≥ 10,000 events/s — **{'met' if ok else 'not met'}** "
                   f"(best {fmt(best, 0)} events/s)")  # fmt: skip
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=200_000)
    p.add_argument("--merchants", type=int, default=2_000)
    p.add_argument(
        "--engines",
        default="duckdb,postgres,postgres-w2",
        help="comma-separated: duckdb, postgres (1 worker), postgres-w2 (2 workers)",
    )
    p.add_argument("--rates", default="200,500,1000", help="arrival rates, req/s")
    p.add_argument("--seconds", type=float, default=15.0, help="measured seconds per rate")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--event-batches", type=int, default=40, help="batches of 500 per scenario")
    p.add_argument("--pg-enforce-timeout", type=float, default=60.0)
    p.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = p.parse_args()
    args.rates = [float(x) for x in args.rates.split(",")]
    engines = args.engines.split(",")
    OUT.mkdir(parents=True, exist_ok=True)
    tag = datetime.now().strftime("%H%M%S")
    code = code_measured()
    say(f"measuring tiyan from {code['src']} at {code['commit'][:12]}"
        + (" (with uncommitted changes to src/)" if code["dirty"] else ""))  # fmt: skip

    folder = prepare_duckdb(args.cache, args.orders, args.merchants)
    market = folder / "market.duckdb"
    order_ids = pick_orders(str(market), 2000)
    merchant_rows = store_query(
        "duckdb", str(market), "SELECT merchant_id FROM merchants ORDER BY 1"
    )
    merchants = [r[0] for r in merchant_rows]
    prep: dict[str, Any] = {"duckdb": json.loads((folder / "ready.json").read_text())}
    results = []
    try:
        if "duckdb" in engines:
            work = OUT / "service-bench.duckdb"
            shutil.copyfile(market, work)
            results.append(bench_engine("duckdb", "duckdb", str(work), 1, args, order_ids,
                                        merchants, tag))  # fmt: skip
            work.unlink()
        pg = [e for e in engines if e.startswith("postgres")]
        if pg:
            prep["postgres"] = prepare_postgres(folder, args.pg_enforce_timeout)
            for e in pg:
                workers = 2 if e.endswith("-w2") else 1
                results.append(bench_engine(e, "postgres", pg_url(), workers, args, order_ids,
                                            merchants, tag))  # fmt: skip
    finally:
        if any(e.startswith("postgres") for e in engines):
            pg_drop()
    report = {"args": {k: str(v) for k, v in vars(args).items()}, "prepare": prep, "code": code,
              "results": results}  # fmt: skip
    (OUT / "service.json").write_text(json.dumps(report, indent=2, default=str))
    md = table(results, args.rates)
    print(md)
    print("\n".join(aims(results)))
    print(json.dumps(prep))


if __name__ == "__main__":
    main()
