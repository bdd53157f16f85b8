"""``tiyan serve`` and ``tiyan keys``: the HTTP service and its keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table as RichTable

from tiyan.cli.main import DbOption, JsonOption, _fail, _store, app, err, out
from tiyan.domain.errors import TiyanError
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
) -> None:
    """Serve the API (/v1, docs at /docs) on DuckDB (one process) or PostgreSQL (--workers)."""
    import uvicorn

    from tiyan.service import Settings
    from tiyan.service.telemetry import configure_logging

    try:
        settings = Settings.from_env(
            db=db, policy=policy, workers=workers, rate_limit=rate_limit,
            log_requests=not quiet,
        )  # fmt: skip
    except (TiyanError, ValueError) as exc:
        raise _fail(exc) from None
    configure_logging()
    err.print(f"tiyan serving {settings.db} on http://{host}:{port} (API docs: /docs)")
    common = {"host": host, "port": port, "timeout_graceful_shutdown": 30, "log_level": "warning"}
    if workers == 1:
        from tiyan.service import create_app

        try:
            application = create_app(settings)
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
    role: Annotated[str, typer.Option(help="operator, merchant or service.")],
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
        f"created {key.info.role} key {key.key_id}" + (f" for {merchant}" if merchant else "")
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
            k.key_id, k.role, k.merchant_id or "", k.label or "", str(k.created_at),
            str(k.revoked_at or ""),
        )  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
def keys_revoke_cmd(
    key_id: Annotated[str, typer.Argument(help="The key id (tk_...).")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from tiyan.service.keys import revoke_key

    with _store(db) as store:
        try:
            info = revoke_key(store, key_id, now=datetime.now(UTC))
        except TiyanError as exc:
            raise _fail(exc) from None
    out.print(f"revoked {info.key_id} ({info.role}) at {info.revoked_at}")
