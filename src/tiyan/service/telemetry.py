"""Operations: Prometheus metrics and one structured (JSON) log line per request.

Each app has its own metrics registry (several apps in one test process do not collide).
With several workers each worker exposes its own counters; scrape each, or sum them.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from tiyan.service.limits import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("tiyan.service.requests")


class Metrics:
    """The service's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tiyan_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tiyan_http_request_duration_seconds",
            "Time to answer, by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.events = Counter(
            "tiyan_events_total",
            "Events received, by outcome (accepted, duplicate, rejected).",
            ["status"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "tiyan_decisions_total",
            "Decisions made, by kind and outcome.",
            ["kind", "outcome"],
            registry=self.registry,
        )


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the ``tiyan.service`` loggers (called by ``tiyan serve``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("tiyan.service")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class Observe:
    """ASGI middleware: time each request, count it by route template, log it."""

    def __init__(self, app: ASGIApp, metrics: Metrics, enabled_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.enabled_log = enabled_log
        self.pid = str(os.getpid()).encode()  # which worker answered (several on PostgreSQL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        request_id = uuid.uuid4().hex[:16]

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-worker-pid", self.pid))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(template).observe(elapsed)
            if self.enabled_log:
                state = scope.get("state") or {}
                log.info(
                    "request",
                    extra={
                        "fields": {
                            "request_id": request_id,
                            "method": method,
                            "path": scope.get("path"),
                            "route": template,
                            "status": status,
                            "ms": round(elapsed * 1000, 2),
                            "key_id": state.get("key_id"),
                        }
                    },
                )
