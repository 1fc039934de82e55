"""Server settings: one dataclass whose fields declare their `kashif serve` flag, `KASHIF_*` environment variable
and help text (model.settings); `ServeSettings.from_env()` builds them in code as the command line does
(kashif/commands/serve.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kashif.model.predictor import ModelRefs, PredictorConfig
from kashif.model.settings import from_env, setting

INFERENCE_MODES = ("process", "thread")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
SERVER, BATCHING, LIMITS, CONNECTIONS, SECURITY = "server", "micro-batching", "request limits", "connections", "security"


@dataclass
class ServeSettings(ModelRefs):
    """The server's settings. Which models (model and one NAME_model per task: ModelRefs) and how they run (predictor)
    are the flags every kashif command has (model.predictor); the rest are `kashif serve`'s own."""

    predictor: PredictorConfig = field(default_factory=PredictorConfig)

    host: str = setting("127.0.0.1", "address to listen on", env="KASHIF_HOST", group=SERVER)
    port: int = setting(8000, "port", env="KASHIF_PORT", group=SERVER)
    log_level: str = setting("info", "log level", env="KASHIF_LOG_LEVEL", choices=LOG_LEVELS, group=SERVER)
    warmup: bool = setting(True, "report ready without a warm-up inference", flag="--no-warmup", show_default=False, group=SERVER)
    inference: str = setting(
        "process", "where the models run: 'process' = a child process, restarted if it dies, that shares no GIL with the "
        "HTTP event loop; 'thread' = inside the server process", env="KASHIF_INFERENCE", choices=INFERENCE_MODES, group=SERVER)

    # micro-batching: requests coalesced into one predictor call
    max_batch_units: int = setting(64, "texts or stance pairs coalesced into one inference call", env="KASHIF_MAX_BATCH_UNITS",
                                   group=BATCHING)
    max_batch_chars: int = setting(200_000, "characters coalesced into one inference call", env="KASHIF_MAX_BATCH_CHARS",
                                   group=BATCHING)
    max_wait_ms: float = setting(2.0, "how long a batch waits for more requests when others are already queued; a lone request "
                                 "never waits", env="KASHIF_MAX_WAIT_MS", group=BATCHING)
    max_queue: int = setting(256, "requests waiting for inference before new ones get 503", env="KASHIF_MAX_QUEUE", group=BATCHING)
    # refuse (503) a request whose estimated wait for inference is over this;
    # None: the request timeout (a request that would time out is refused at once)
    max_queue_delay_ms: float | None = setting(
        None, "refuse (503 + Retry-After) a request whose estimated wait for inference is longer than this, so that accepted "
        "requests stay fast under a burst; default: the request timeout", env="KASHIF_MAX_QUEUE_DELAY_MS", group=BATCHING)
    request_timeout_s: float = setting(30.0, "seconds a request may wait for its result before 504", env="KASHIF_REQUEST_TIMEOUT",
                                       flag="--request-timeout", group=BATCHING)

    # request limits
    max_body_bytes: int = setting(1_000_000, "largest request body; larger → 413", env="KASHIF_MAX_BODY_BYTES", group=LIMITS)
    max_items: int = setting(64, "texts, items or targets in one request; more → 413", env="KASHIF_MAX_ITEMS", group=LIMITS)
    max_chars: int = setting(20_000, "characters in one text; longer → 413", env="KASHIF_MAX_CHARS", group=LIMITS)

    # connections
    read_timeout_s: float = setting(
        15.0, "seconds within which a request's headers and body must arrive in full, however slowly they trickle; later → 408 "
        "and the connection is closed", env="KASHIF_READ_TIMEOUT", flag="--read-timeout", group=CONNECTIONS)
    max_connections: int = setting(512, "open connections at most; one more is answered 503 and closed at once",
                                   env="KASHIF_MAX_CONNECTIONS", group=CONNECTIONS)

    # keys from KASHIF_API_KEYS and from the key file, in that order, without repeats
    api_keys: tuple[str, ...] = setting((), "API keys, comma-separated", env="KASHIF_API_KEYS", has_flag=False)
    api_key_file: str | None = setting(
        None, "file with API keys, one per line; keys also come from KASHIF_API_KEYS (comma-separated). With any key set, "
        "/v1/* needs 'Authorization: Bearer <key>'", env="KASHIF_API_KEY_FILE", group=SECURITY)
    cors_origins: tuple[str, ...] = setting((), "comma-separated origins allowed by CORS, or '*'; default: CORS off",
                                            env="KASHIF_CORS_ORIGINS", group=SECURITY)
    metrics_auth: bool = setting(False, "put /metrics behind the API keys too; default: /metrics is open", env="KASHIF_METRICS_AUTH",
                                 show_default=False, group=SECURITY)
    expose_model_paths: bool = setting(False, "show each model's directory in /v1/models; default: name and content hash only. "
                                       "Public endpoints never show paths", env="KASHIF_EXPOSE_MODEL_PATHS", show_default=False,
                                       group=SECURITY)

    @classmethod
    def from_env(cls, **overrides: Any) -> "ServeSettings":
        """Settings built in code as `kashif serve` builds them: defaults < `KASHIF_*` environment < keyword arguments."""
        return from_env(cls, **{"predictor": from_env(PredictorConfig), **overrides})

    def __post_init__(self) -> None:
        keys = tuple(self.api_keys) + (read_key_file(self.api_key_file) if self.api_key_file else ())
        self.api_keys = tuple(dict.fromkeys(keys))
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
