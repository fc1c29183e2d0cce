"""Prometheus metrics shared by every component (one registry per process)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

http_requests = Counter(
    "persona_http_requests",
    "HTTP requests handled, by component, method, route template and status.",
    ["component", "method", "route", "status"],
)
http_latency = Histogram(
    "persona_http_request_seconds",
    "Time to handle an HTTP request, by component and route template.",
    ["component", "method", "route"],
    buckets=LATENCY_BUCKETS,
)
bridge_inflight = Gauge(
    "persona_bridge_inflight_requests", "Bridge requests being handled by this replica.", ["component"]
)
sse_connections = Gauge("persona_sse_connections", "Open SSE connections on this gateway.")
sse_subscriptions = Gauge("persona_sse_subscriptions", "NATS subscriptions held for SSE subjects.")
sse_tasks = Gauge("persona_sse_tasks", "Tasks serving SSE connections.")
sse_events = Counter("persona_sse_events", "SSE events written to clients.")
sse_dropped = Counter("persona_sse_slow_clients", "SSE clients disconnected for not reading.")
jobs_processed = Counter(
    "persona_jobs", "Jobs finished by the worker, by kind and outcome.", ["kind", "outcome"]
)
jobs_running = Gauge("persona_jobs_running", "Jobs being processed by this worker, by kind.", ["kind"])
job_seconds = Histogram(
    "persona_job_seconds", "Time to process a job, by kind.", ["kind"], buckets=LATENCY_BUCKETS
)


# Label values come from fixed sets only: a client's made-up method or path must not add series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"


def method_label(method: str) -> str:
    """`method` when it is a standard HTTP method, else `other`."""
    return method if method in METHODS else OTHER_METHOD


# `labels()` hashes and validates its values on every call; the children of the label sets a
# process has seen are kept here (a fixed, small set: see method_label and UNMATCHED_ROUTE).
_request_series: dict[tuple[str, str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(component: str, method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency (`method` as the client sent it)."""
    key = (component, method_label(method), route, status)
    series = _request_series.get(key)
    if series is None:
        series = _request_series[key] = (
            http_requests.labels(*key[:3], str(status)),
            http_latency.labels(*key[:3]),
        )
    series[0].inc()
    series[1].observe(seconds)


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
