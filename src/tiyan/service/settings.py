"""Typed settings of the HTTP service, from arguments or ``TIYAN_*`` environment variables.

Example::

    settings = Settings(db="tiyan.duckdb")                 # in code or tests
    settings = Settings.from_env()                         # TIYAN_DB, TIYAN_POLICY, ...
"""

from __future__ import annotations

import os
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tiyan.domain.errors import UsageError
from tiyan.ingest.load import DEFAULT_TIMEZONE
from tiyan.store import DEFAULT_DB, is_postgres_url


def origin_of(url: str) -> str | None:
    """The origin of ``url`` as a browser's ``Origin`` header writes it (scheme://host, the
    port only when it is not the scheme's default); None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


class Settings(BaseModel):
    """Everything ``create_app`` needs; every field has an environment variable
    ``TIYAN_<FIELD>`` (e.g. ``TIYAN_DB``, ``TIYAN_RATE_LIMIT``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db: str = Field(default=DEFAULT_DB, description="DuckDB file or postgresql:// URL.")
    policy: str | None = Field(
        default=None,
        description="Policy file or folder of versions (default: the packaged policy).",
    )
    environment: Literal["development", "production"] = "development"
    timezone: str = Field(default=DEFAULT_TIMEZONE, description="Zone of naive event timestamps.")
    max_body_bytes: int = Field(default=8 * 2**20, ge=1024, description="Largest request body.")
    max_batch_items: int = Field(default=5000, ge=1, description="Most events in one batch.")
    rate_limit: float = Field(
        default=500.0, gt=0, description="Sustained requests per second allowed per key."
    )
    rate_burst: int = Field(default=1000, ge=1, description="Requests a key may send in a burst.")
    workers: int = Field(default=1, ge=1, description="Uvicorn worker processes (PostgreSQL only).")
    auth_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How long a checked key is trusted without a lookup (a revocation takes "
        "effect within this time; 0: every request looks the key up).",
    )
    decision_log_flush_ms: int = Field(
        default=50,
        ge=0,
        le=10_000,
        description="Decisions are logged in batches this often (0: each with its answer).",
    )
    log_requests: bool = Field(default=True, description="One JSON log line per request.")
    public_url: str | None = Field(
        default=None,
        description="The URL browsers reach the console at (scheme://host[:port], e.g. "
        "https://tiyan.example.com): a console form is accepted only from that origin, "
        "whatever the Host header says. `tiyan serve` defaults it to http://HOST:PORT; unset, "
        "every form that names an origin is refused. Required in production.",
    )

    @field_validator("public_url")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        origin = origin_of(value.strip())
        if origin is None:
            raise ValueError(f"public_url {value!r} is not an http(s)://host[:port] URL")
        return origin

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.environment == "production" and self.public_url is None:
            raise UsageError(
                "production needs TIYAN_PUBLIC_URL (the URL browsers reach the console at): "
                "console forms are accepted from that origin only"
            )
        if self.workers > 1 and not is_postgres_url(self.db):
            raise UsageError(
                "an embedded DuckDB store is opened by one process: use --workers 1, or a "
                "postgresql:// store for several workers"
            )
        return self

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            key = f"TIYAN_{name.upper()}"
            if key in env:
                values[name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment that ``from_env`` reads back into these settings (for workers)."""
        return {f"TIYAN_{k.upper()}": str(v) for k, v in self.model_dump().items() if v is not None}
