"""``tiyan serve`` and ``tiyan keys``: the HTTP service and its keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from tiyan.cli.main import DbOption, JsonOption, _fail, _store, app, err, out
from tiyan.cli.terminal import shown
from tiyan.domain.errors import StoreError, TiyanError
from tiyan.store import DEFAULT_DB

keys_app = typer.Typer(help="API keys of the HTTP service.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command("serve")
def serve_cmd(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (a postgresql:// store only).")
    ] = 1,
    policy: Annotated[
        str | None, typer.Option("--policy", help="Policy file or folder of versions.")
    ] = None,
    rate_limit: Annotated[
        float | None, typer.Option(help="Requests per second per key (sustained).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No log line per request.")] = False,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The URL browsers reach the console at (scheme://host[:port]); console forms "
            "are accepted from that origin only. Default: http://HOST:PORT."
        ),
    ] = None,
) -> None:
    """Serve the API (/v1, docs at /docs) on DuckDB (one process) or PostgreSQL (--workers)."""
    import uvicorn

    from tiyan.service import Settings
    from tiyan.service.control import loopback_url
    from tiyan.service.telemetry import configure_logging
    from tiyan.store import is_postgres_url

    try:
        settings = Settings.from_env(
            db=db, policy=policy, workers=workers, rate_limit=rate_limit,
            log_requests=not quiet, public_url=public_url,
        )  # fmt: skip
        if settings.public_url is None:  # a browser on this machine (a proxy: --public-url)
            settings = Settings(**{**settings.model_dump(), "public_url": loopback_url(host, port)})
    except (TiyanError, ValueError) as exc:
        raise _fail(exc) from None
    configure_logging()
    err.print(
        f"tiyan serving {shown(settings.db)} on http://{shown(host)}:{port} (API docs: /docs)"
    )
    common = {"host": host, "port": port, "timeout_graceful_shutdown": 30, "log_level": "warning"}
    if workers == 1:
        from tiyan.service import create_app

        # A DuckDB file is this process's alone: the app leaves the CLI a channel to it
        control = None if is_postgres_url(settings.db) else loopback_url(host, port)
        try:
            application = create_app(settings, control_url=control)
        except TiyanError as exc:
            raise _fail(exc) from None
        uvicorn.run(application, **common)  # type: ignore[arg-type]
        return
    import os

    os.environ.update(settings.to_env())
    uvicorn.run(
        "tiyan.service.app:app_from_env",
        factory=True,
        workers=workers,
        **common,  # type: ignore[arg-type]
    )


@keys_app.command("create")
def keys_create_cmd(
    role: Annotated[
        str, typer.Option(help="operator, merchant, service or agent (the service desk).")
    ],
    merchant: Annotated[str | None, typer.Option(help="The merchant of a merchant key.")] = None,
    label: Annotated[str | None, typer.Option(help="Who holds it.")] = None,
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
) -> None:
    """Create a key; it is printed once (only its hash is stored)."""
    from tiyan.service.keys import create_key

    with _store(db) as store:
        try:
            key = create_key(
                store, role=role, merchant_id=merchant, label=label, now=datetime.now(UTC)
            )
        except TiyanError as exc:
            raise _fail(exc) from None
    if as_json:
        info = {**key.info.__dict__, "key": key.secret}
        out.print_json(json.dumps(info, default=str))
        return
    out.print(
        f"created {key.info.role} key {key.key_id}"
        + (f" for {shown(merchant)}" if merchant else "")
    )
    out.print("the key (shown this once; send it as `Authorization: Bearer <key>`):")
    print(key.secret)


@keys_app.command("list")
def keys_list_cmd(db: DbOption = DEFAULT_DB, as_json: JsonOption = False) -> None:
    """Keys (ids, roles, merchants, revocation), never their secrets."""
    from tiyan.service.keys import list_keys

    with _store(db) as store:
        keys = list_keys(store)
    if as_json:
        out.print_json(json.dumps([k.__dict__ for k in keys], default=str))
        return
    table = RichTable("key id", "role", "merchant", "label", "created", "revoked")
    for k in keys:
        table.add_row(
            *(shown(v) for v in (k.key_id, k.role, k.merchant_id, k.label)), str(k.created_at),
            str(k.revoked_at or ""),
        )  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
def keys_revoke_cmd(
    key_id: Annotated[str, typer.Argument(help="The key id (tk_...).")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Revoke a key: requests with it are refused from now on — also by a `tiyan serve`
    running on the store (on DuckDB, which it holds, the CLI asks that server to do it)."""
    from tiyan.service.control import revoke_through_server
    from tiyan.service.keys import revoke_key
    from tiyan.store import is_postgres_url, open_store

    try:
        store = open_store(db)
    except StoreError as exc:
        if is_postgres_url(db) or not Path(db).exists():
            raise _fail(exc) from None
        try:  # the store is held by a server: it revokes the key itself
            found = revoke_through_server(db, key_id)
        except TiyanError as failed:
            raise _fail(failed) from None
        out.print(
            f"revoked {shown(found['key_id'])} ({shown(found['role'])}) at "
            f"{shown(found['revoked_at'])}, through the server running on {shown(db)}"
        )
        return
    try:
        info = revoke_key(store, key_id, now=datetime.now(UTC))
    except TiyanError as exc:
        raise _fail(exc) from None
    finally:
        store.close()
    out.print(f"revoked {shown(info.key_id)} ({info.role}) at {info.revoked_at}")
