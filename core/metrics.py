"""Prometheus metrics. Module-level, as prometheus-client expects: one registry per process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("chirp_http_requests_total", "HTTP requests handled", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "chirp_http_request_duration_seconds",
    "Time to produce a response",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
OPEN_WEBSOCKETS = Gauge("chirp_open_websockets", "Streaming connections open on this process")
JOB_QUEUE_DEPTH = Gauge("chirp_job_queue_depth", "Jobs waiting to run", ["queue"])
JOB_LAG = Gauge("chirp_job_lag_seconds", "Age of the oldest job ready to run", ["queue"])
DEAD_JOBS = Gauge("chirp_dead_jobs", "Jobs that exhausted their attempts", ["queue"])
JOBS_DONE = Counter("chirp_jobs_total", "Jobs finished by workers", ["queue", "outcome"])
