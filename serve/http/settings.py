"""Server settings: one dataclass, filled from `kashif serve` flags whose
defaults come from `KASHIF_*` environment variables."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

from kashif.model.predictor import PredictorConfig


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer") from None


def _env_float(name: str, default: float | None) -> float | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _env_bool(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("",) + _FALSE:
        return False
    if value in _TRUE:
        return True
    raise ValueError(f"{name}={value!r} is not a yes/no value (use 1 or 0)")


def _split_list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


INFERENCE_MODES = ("process", "thread")


@dataclass
class ServeSettings:
    # which models (as for every kashif command); None everywhere → the bundled model
    model: str | None = None
    ner_model: str | None = None
    stance_model: str | None = None
    predictor: PredictorConfig = field(default_factory=PredictorConfig)

    host: str = "127.0.0.1"
    port: int = 8000

    # "process": the predictor runs in a child process (no GIL shared with the
    # event loop; restarted if it dies); "thread": in the server's own inference thread
    inference: str = "process"

    # micro-batching: requests coalesced into one predictor call
    max_batch_units: int = 64  # texts (entities) or pairs (stance) per coalesced call
    max_batch_chars: int = 200_000  # characters per coalesced call
    max_wait_ms: float = 2.0  # extra wait for more requests, only when others are already queued
    max_queue: int = 256  # requests waiting for inference; beyond it → 503 + Retry-After
    request_timeout_s: float = 30.0
    # refuse (503) a request whose estimated wait for inference is over this;
    # None: the request timeout (a request that would time out is refused at once)
    max_queue_delay_ms: float | None = None

    # request limits
    max_body_bytes: int = 1_000_000
    max_items: int = 64  # texts / items / targets in one request
    max_chars: int = 20_000  # characters of one text

    # connections: a request's headers and body must arrive within read_timeout_s
    # (else 408 and the socket is closed); connections beyond max_connections are refused (503)
    read_timeout_s: float = 15.0
    max_connections: int = 512

    api_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    metrics_auth: bool = False  # /metrics needs an API key too
    expose_model_paths: bool = False  # /v1/models shows each model's directory (never the public endpoints)
    log_level: str = "info"
    warmup: bool = True

    def __post_init__(self) -> None:
        positive = {
            "max_batch_units": self.max_batch_units,
            "max_batch_chars": self.max_batch_chars,
            "max_queue": self.max_queue,
            "max_body_bytes": self.max_body_bytes,
            "max_items": self.max_items,
            "max_chars": self.max_chars,
            "max_connections": self.max_connections,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1, got {value}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max-wait-ms must not be negative, got {self.max_wait_ms}")
        if self.request_timeout_s <= 0:
            raise ValueError(f"request-timeout must be positive, got {self.request_timeout_s}")
        if self.max_queue_delay_ms is not None and self.max_queue_delay_ms <= 0:
            raise ValueError(f"max-queue-delay-ms must be positive, got {self.max_queue_delay_ms:g}")
        if self.read_timeout_s <= 0:
            raise ValueError(f"read-timeout must be positive, got {self.read_timeout_s:g}")
        if self.metrics_auth and not self.api_keys:
            raise ValueError("metrics-auth puts /metrics behind the API keys, but no key is set (KASHIF_API_KEYS or --api-key-file)")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.inference not in INFERENCE_MODES:
            raise ValueError(f"inference must be one of {', '.join(INFERENCE_MODES)}, got {self.inference!r}")

    @property
    def max_queue_delay_s(self) -> float:
        return self.request_timeout_s if self.max_queue_delay_ms is None else self.max_queue_delay_ms / 1000


def read_key_file(path: str | os.PathLike) -> tuple[str, ...]:
    """API keys from a file: one per line; blank lines and `#` comments ignored."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read the API key file {path}: {err.__class__.__name__}: {getattr(err, 'strerror', None) or err}") from None
    keys = tuple(line.strip() for line in lines if line.strip() and not line.strip().startswith("#"))
    if not keys:
        raise ValueError(f"the API key file {path} holds no key")
    return keys


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Server flags; each default comes from a KASHIF_* environment variable."""
    d = ServeSettings()
    net = parser.add_argument_group("server")
    net.add_argument("--host", default=os.environ.get("KASHIF_HOST", d.host), help=f"address to listen on (KASHIF_HOST, default {d.host})")
    net.add_argument("--port", type=int, default=_env_int("KASHIF_PORT", d.port), help=f"port (KASHIF_PORT, default {d.port})")
    net.add_argument("--log-level", default=os.environ.get("KASHIF_LOG_LEVEL", d.log_level), choices=["critical", "error", "warning", "info", "debug"])
    net.add_argument("--no-warmup", action="store_true", help="report ready without a warm-up inference")
    net.add_argument("--inference", default=os.environ.get("KASHIF_INFERENCE", d.inference), choices=INFERENCE_MODES,
                     help="where the models run: 'process' = a child process, restarted if it dies, that shares no GIL with the "
                          "HTTP event loop; 'thread' = inside the server process (KASHIF_INFERENCE, default process)")

    batching = parser.add_argument_group("micro-batching")
    batching.add_argument("--max-batch-units", type=int, default=_env_int("KASHIF_MAX_BATCH_UNITS", d.max_batch_units),
                          help=f"texts or stance pairs coalesced into one inference call (KASHIF_MAX_BATCH_UNITS, default {d.max_batch_units})")
    batching.add_argument("--max-batch-chars", type=int, default=_env_int("KASHIF_MAX_BATCH_CHARS", d.max_batch_chars),
                          help=f"characters coalesced into one inference call (KASHIF_MAX_BATCH_CHARS, default {d.max_batch_chars})")
    batching.add_argument("--max-wait-ms", type=float, default=_env_float("KASHIF_MAX_WAIT_MS", d.max_wait_ms),
                          help="how long a batch waits for more requests when others are already queued; "
                               f"a lone request never waits (KASHIF_MAX_WAIT_MS, default {d.max_wait_ms})")
    batching.add_argument("--max-queue", type=int, default=_env_int("KASHIF_MAX_QUEUE", d.max_queue),
                          help=f"requests waiting for inference before new ones get 503 (KASHIF_MAX_QUEUE, default {d.max_queue})")
    batching.add_argument("--max-queue-delay-ms", type=float, default=_env_float("KASHIF_MAX_QUEUE_DELAY_MS", None),
                          help="refuse (503 + Retry-After) a request whose estimated wait for inference is longer than this, "
                               "so that accepted requests stay fast under a burst (KASHIF_MAX_QUEUE_DELAY_MS; "
                               "default: the request timeout)")
    batching.add_argument("--request-timeout", type=float, default=_env_float("KASHIF_REQUEST_TIMEOUT", d.request_timeout_s),
                          help=f"seconds a request may wait for its result before 504 (KASHIF_REQUEST_TIMEOUT, default {d.request_timeout_s})")

    limits = parser.add_argument_group("request limits")
    limits.add_argument("--max-body-bytes", type=int, default=_env_int("KASHIF_MAX_BODY_BYTES", d.max_body_bytes),
                        help=f"largest request body; larger → 413 (KASHIF_MAX_BODY_BYTES, default {d.max_body_bytes})")
    limits.add_argument("--max-items", type=int, default=_env_int("KASHIF_MAX_ITEMS", d.max_items),
                        help=f"texts, items or targets in one request; more → 413 (KASHIF_MAX_ITEMS, default {d.max_items})")
    limits.add_argument("--max-chars", type=int, default=_env_int("KASHIF_MAX_CHARS", d.max_chars),
                        help=f"characters in one text; longer → 413 (KASHIF_MAX_CHARS, default {d.max_chars})")

    conns = parser.add_argument_group("connections")
    conns.add_argument("--read-timeout", type=float, default=_env_float("KASHIF_READ_TIMEOUT", d.read_timeout_s),
                       help="seconds within which a request's headers and body must arrive in full, however slowly they trickle; "
                            f"later → 408 and the connection is closed (KASHIF_READ_TIMEOUT, default {d.read_timeout_s:g})")
    conns.add_argument("--max-connections", type=int, default=_env_int("KASHIF_MAX_CONNECTIONS", d.max_connections),
                       help="open connections at most; one more is answered 503 and closed at once "
                            f"(KASHIF_MAX_CONNECTIONS, default {d.max_connections})")

    security = parser.add_argument_group("security")
    security.add_argument("--api-key-file", default=os.environ.get("KASHIF_API_KEY_FILE"),
                          help="file with API keys, one per line; keys also come from KASHIF_API_KEYS (comma-separated). "
                               "With any key set, /v1/* needs 'Authorization: Bearer <key>'")
    security.add_argument("--cors-origins", default=os.environ.get("KASHIF_CORS_ORIGINS", ""),
                          help="comma-separated origins allowed by CORS, or '*' (KASHIF_CORS_ORIGINS; default: CORS off)")
    security.add_argument("--metrics-auth", action="store_true", default=_env_bool("KASHIF_METRICS_AUTH"),
                          help="put /metrics behind the API keys too (KASHIF_METRICS_AUTH=1; default: /metrics is open)")
    security.add_argument("--expose-model-paths", action="store_true", default=_env_bool("KASHIF_EXPOSE_MODEL_PATHS"),
                          help="show each model's directory in /v1/models (KASHIF_EXPOSE_MODEL_PATHS=1; default: name and "
                               "content hash only). Public endpoints never show paths")


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """ServeSettings from parsed `add_model_arguments` + `add_serve_arguments` flags."""
    from kashif.model.cli import predictor_config_from_args

    keys = _split_list(os.environ.get("KASHIF_API_KEYS"))
    if args.api_key_file:
        keys = keys + read_key_file(args.api_key_file)
    return ServeSettings(
        model=args.model,
        ner_model=args.ner_model,
        stance_model=args.stance_model,
        predictor=predictor_config_from_args(args),
        host=args.host,
        port=args.port,
        max_batch_units=args.max_batch_units,
        max_batch_chars=args.max_batch_chars,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        request_timeout_s=args.request_timeout,
        max_queue_delay_ms=args.max_queue_delay_ms,
        max_body_bytes=args.max_body_bytes,
        max_items=args.max_items,
        max_chars=args.max_chars,
        api_keys=tuple(dict.fromkeys(keys)),
        cors_origins=_split_list(args.cors_origins),
        read_timeout_s=args.read_timeout,
        max_connections=args.max_connections,
        metrics_auth=args.metrics_auth,
        expose_model_paths=args.expose_model_paths,
        log_level=args.log_level,
        warmup=not args.no_warmup,
        inference=args.inference,
    )
