"""Prometheus metrics. Correct with several processes when ``PROMETHEUS_MULTIPROC_DIR`` is set (``serve`` sets
it before anything imports prometheus_client)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MS_BUCKETS = (0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)

REQUESTS = Counter("llm_api_request_count", "HTTP requests", ["route", "method", "status"])
ERRORS = Counter("llm_api_error_count", "HTTP requests answered with an error", ["route", "code"])
LATENCY = Histogram("llm_api_latency_ms", "HTTP request latency (ms)", ["route"], buckets=MS_BUCKETS)
GENERATIONS = Counter("llm_api_generations", "Finished generations", ["model", "status"])
GENERATION_LATENCY = Histogram(
    "llm_api_generation_latency_ms", "Generation latency in the worker (ms)", ["model"], buckets=MS_BUCKETS
)
TTFT = Histogram("llm_api_time_to_first_token_ms", "Time to first token (ms)", ["model"], buckets=MS_BUCKETS)
TOKENS = Counter("llm_api_tokens", "Tokens processed", ["model", "direction"])
QUEUE_DEPTH = Gauge(
    "llm_api_work_queue_depth", "Work messages waiting or held, per queue", ["queue"], multiprocess_mode="max"
)
LOCAL_MODEL_LOADS = Counter("llm_api_local_model_loads", "Local models loaded into memory")
LOCAL_MODEL_EVICTIONS = Counter(
    "llm_api_local_model_evictions", "Local models unloaded to stay under the memory budget"
)
PROJECTION_LAG = Gauge(
    "llm_api_projection_lag", "Events not yet applied by the slowest projection", multiprocess_mode="max"
)
CONSUMER_FAILURES = Counter(
    "llm_api_consumer_failures", "Failed tries of an event by a consumer (projection, relay, meter)", ["consumer"]
)
PARKED_EVENTS = Gauge(
    "llm_api_parked_events", "Events a consumer parked and moved on from", ["consumer"], multiprocess_mode="max"
)
CONSUMER_FAILING = Gauge(
    "llm_api_consumer_failing", "1 while a consumer is stuck retrying an event", ["consumer"], multiprocess_mode="max"
)


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
