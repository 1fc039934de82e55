"""Prometheus metrics of one server (own registry, so several apps can live in one process)."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("kashif_http_requests", "HTTP requests by route, method and status", ["route", "method", "status"], registry=r)
        self.latency = Histogram("kashif_http_request_duration_seconds", "Time to answer an HTTP request", ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_requests = Histogram("kashif_batch_requests", "Requests coalesced into one inference call", ["task"], buckets=BATCH_BUCKETS, registry=r)
        self.batch_units = Histogram("kashif_batch_units", "Texts (entities, classify) or pairs (stance) in one inference call", ["task"], buckets=BATCH_BUCKETS, registry=r)
        self.inference_seconds = Histogram("kashif_inference_duration_seconds", "Time of one inference call", ["task"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("kashif_http_requests_in_flight", "HTTP requests being answered", registry=r)
        self.running_units = Gauge("kashif_inference_running_units", "Texts or pairs in the inference call now running (0: idle)", registry=r)
        self.queue_depth = Gauge("kashif_queue_depth", "Requests waiting for inference", registry=r)
        self.rejected = Counter("kashif_rejected_requests", "Requests refused with 503: the queue was full or the estimated wait over --max-queue-delay-ms", ["task"], registry=r)
        self.inference_restarts = Counter("kashif_inference_process_restarts", "Inference processes started again after one died", registry=r)
        self.ready = Gauge("kashif_ready", "1 once the models are loaded and warmed up", registry=r)
        self.model_info = Gauge("kashif_model_info", "Loaded models (value 1), by name and content hash (never a path)",
                                ["task", "name", "digest", "backend", "precision", "labels"], registry=r)
        self.open_connections = Gauge("kashif_open_connections", "HTTP connections open now (refused ones not counted)", registry=r)
        self.refused_connections = Counter("kashif_refused_connections", "Connections answered 503 and closed: --max-connections were open", registry=r)
        self.read_timeouts = Counter("kashif_read_timeouts", "Requests whose headers or body did not arrive within --read-timeout (408, closed)", ["stage"], registry=r)

    # BatchObserver
    def on_batch(self, kind: str, requests: int, units: int, seconds: float) -> None:
        self.batch_requests.labels(kind).observe(requests)
        self.batch_units.labels(kind).observe(units)
        self.inference_seconds.labels(kind).observe(seconds)

    def on_queue_depth(self, depth: int) -> None:
        self.queue_depth.set(depth)

    def on_rejected(self, kind: str) -> None:
        self.rejected.labels(kind).inc()

    def on_running(self, units: int) -> None:
        self.running_units.set(units)

    def set_models(self, info: dict[str, dict]) -> None:
        for task, entry in info.items():
            self.model_info.labels(task, str(entry.get("name")), str(entry.get("digest")), str(entry.get("backend")), str(entry.get("precision")),
                                   ",".join(entry.get("labels", []))).set(1)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
