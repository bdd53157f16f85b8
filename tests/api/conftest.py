"""The API suite's market: a small simulated marketplace, scored and enforced, on DuckDB and
on PostgreSQL, with a key of each role; and a client of the app over it.

Every API test takes ``api`` (the market) and ``client``; both are parametrised by engine,
so the whole suite runs on both stores.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import postgres_url
from tiyan.ingest.load import ingest
from tiyan.jobs.enforce import run_enforcement
from tiyan.jobs.scoring import run_scoring
from tiyan.service import Settings, create_app
from tiyan.service.keys import create_key
from tiyan.sim import SimConfig, write_parquet
from tiyan.store import open_store

MARKET = SimConfig(merchants=30, orders=6000, days=40, seed=5)
AS_OF = MARKET.start + timedelta(days=MARKET.days)
#: The service's clock in the tests: the day after the market's last day.
NOW = datetime.combine(AS_OF, datetime.min.time(), UTC) + timedelta(hours=4)


@dataclass(frozen=True)
class Market:
    url: str
    engine: str
    operator: str
    service: str
    #: merchant A's key, and the merchant ids of A and B (both with violations)
    merchant: str
    merchant_a: str
    merchant_b: str
    as_of: date
    #: a platform agent's key (the service desk)
    agent: str = ""


def _build(url: str, data: Path) -> Market:
    with open_store(url) as store:
        ingest(store, [data], now=NOW)
        run_scoring(store, as_of=AS_OF)
        run_enforcement(store, as_of=AS_OF)
        a, b = (
            r[0]
            for r in store.query(
                "SELECT merchant_id FROM violations GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"
            )
        )
        op = create_key(store, role="operator", now=NOW, label="tests").secret
        sv = create_key(store, role="service", now=NOW, label="tests").secret
        mk = create_key(store, role="merchant", merchant_id=a, now=NOW, label="tests").secret
        ag = create_key(store, role="agent", now=NOW, label="tests").secret
    return Market(url, "", op, sv, mk, a, b, AS_OF, ag)


@pytest.fixture(scope="session")
def market_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("api-market")
    write_parquet(MARKET, folder)
    return folder


@pytest.fixture(scope="session")
def duckdb_market(market_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Market:
    url = str(tmp_path_factory.mktemp("api-duckdb") / "tiyan.duckdb")
    m = _build(url, market_data)
    return Market(**{**m.__dict__, "engine": "duckdb"})


@pytest.fixture(scope="session")
def postgres_market(market_data: Path) -> Iterator[Market]:
    base = postgres_url()
    schema = f"tiyan_api_{uuid.uuid4().hex[:10]}"
    url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    m = _build(url, market_data)
    yield Market(**{**m.__dict__, "engine": "postgres"})
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["duckdb", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Market:
    """A fresh copy of the market for each test (tests write: events, appeals, keys)."""
    if request.param == "duckdb":
        built: Market = request.getfixturevalue("duckdb_market")
        copy = tmp_path / "tiyan.duckdb"
        shutil.copy(built.url, copy)
        return Market(**{**built.__dict__, "url": str(copy)})
    built = request.getfixturevalue("postgres_market")
    # a schema per test, cloned from the built one (CREATE TABLE AS per table)
    base = postgres_url()
    source = built.url.rsplit("schema=", 1)[1]
    schema = f"tiyan_apit_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (source,),
            ).fetchall()
        ]
        for t in tables:
            con.execute(f'CREATE TABLE "{schema}"."{t}" (LIKE "{source}"."{t}" INCLUDING ALL)')
            con.execute(f'INSERT INTO "{schema}"."{t}" SELECT * FROM "{source}"."{t}"')
    request.addfinalizer(lambda: _drop(base, schema))
    return Market(
        **{**built.__dict__, "url": f"{base}{'&' if '?' in base else '?'}schema={schema}"}
    )


def _drop(base: str, schema: str) -> None:
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def make_client(api: Market, **settings: object) -> TestClient:
    # the client's own origin is the public URL the console's forms must come from
    options: dict[str, object] = {"db": api.url, "log_requests": False, "rate_limit": 10_000,
                                  "rate_burst": 10_000,
                                  "public_url": "http://testserver"}  # fmt: skip
    options.update(settings)
    app = create_app(Settings(**options), clock=lambda: NOW)  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(api: Market) -> Iterator[TestClient]:
    with make_client(api) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
