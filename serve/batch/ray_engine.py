"""`kashif score --engine ray`: the same scoring as a Ray Data pipeline.

read (Ray's own readers) → `map_batches` with `RayScorer`, a callable class
holding one Predictor per actor (`concurrency` actors, each with `num_cpus` /
`num_gpus`) → results streamed back in input order to the driver, which
commits them into the same resumable shards as the local engine, so the
output is the same file, row for row.

`RAY_ADDRESS` (e.g. `ray://head:10001` or `auto`) joins an existing cluster;
without it a local Ray instance starts and stops with the job. Every node
must be able to import `kashif` and read the model directories and inputs
(shared storage or object-store paths such as s3://).
"""
from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Iterator, Sequence

from kashif.serve.batch.errors import EngineError, UsageError
from kashif.serve.batch.readers import csv_options, load_dataset_dir, parse_json_line
from kashif.serve.batch.rows import FieldSpec, ModelSpec, Outcome, score_rows


class RayScorer:
    """One Predictor per actor; turns a batch of raw rows into outcomes
    (JSON strings, so ids of any type cross Arrow unchanged)."""

    def __init__(self, models: ModelSpec, fields: FieldSpec, fmt: str, threads: int) -> None:
        self.predictor = models.build(threads=threads)
        self.fields = fields
        self.fmt = fmt

    def _rows(self, batch) -> list:
        if self.fmt == "jsonl":
            return [parse_json_line(line) for line in batch.column("text").to_pylist()]
        if self.fmt == "txt":
            return [{self.fields.text_field: line} for line in batch.column("text").to_pylist()]
        return batch.to_pylist()

    def __call__(self, batch):
        import pyarrow as pa

        outcomes = score_rows(self.predictor, self._rows(batch), self.fields)
        encoded = [json.dumps({"id": o.id, "result": o.result, "error": o.error}, ensure_ascii=False, default=str) for o in outcomes]
        return pa.table({"outcome": pa.array(encoded, type=pa.string())})


def _last_line(err: BaseException) -> str:
    lines = [l for l in str(err).strip().splitlines() if l.strip()]
    return lines[-1].strip() if lines else ""


def _root_cause(err: BaseException) -> BaseException:
    """Ray's task errors carry the actor's own exception as `cause`."""
    seen = set()
    while id(err) not in seen:
        seen.add(id(err))
        nxt = getattr(err, "cause", None) or err.__cause__
        if not isinstance(nxt, BaseException):
            break
        err = nxt
    return err


def _read(ray, paths: list[str], fmt: str, fields: FieldSpec):
    if fmt in ("jsonl", "txt"):
        # One row per non-blank line, parsed by the actors with the local
        # engine's own parser, so a bad line is a row error, not a failed read.
        return ray.data.read_text(paths, drop_empty_lines=True)
    if fmt in ("csv", "tsv"):
        read, parse, convert = csv_options("," if fmt == "csv" else "\t", fields.columns())
        return ray.data.read_csv(paths, read_options=read, parse_options=parse, convert_options=convert)
    if fmt == "parquet":
        return ray.data.read_parquet(paths)
    if fmt == "datasets":
        if len(paths) != 1:
            raise ValueError("the Ray engine reads one datasets directory at a time")
        return ray.data.from_huggingface(load_dataset_dir(paths[0]))
    raise ValueError(f"the Ray engine cannot read {fmt}")


def _init_ray(ray, concurrency: int, num_cpus: float) -> bool:
    """Join RAY_ADDRESS, or start a local instance; True when we started one."""
    if ray.is_initialized():
        return False
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local instance needs no token
    cpus = max(os.cpu_count() or 1, math.ceil(concurrency * num_cpus) + 1)  # actors plus a read task
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    return True


def ray_outcomes(
    inputs: Sequence[str],
    formats: Sequence[str],
    fields: FieldSpec,
    models: ModelSpec,
    *,
    skip: int,
    chunk_size: int,
    concurrency: int,
    num_cpus: float,
    num_gpus: float,
) -> Iterator[list[Outcome]]:
    """Outcomes of every row of `inputs` (one format each) after the first
    `skip`, `chunk_size` rows at a time, in input order. Skipped rows are
    recomputed by Ray (it has no row offset) but never written twice."""
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'kashif[ray]'") from None
    distinct = sorted(set(formats))
    if len(distinct) != 1:
        raise UsageError(f"--engine ray reads inputs of one format at a time, not {', '.join(distinct)}")
    fmt = distinct[0]
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # our own progress bar and summary say enough
    started = _init_ray(ray, concurrency, num_cpus)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        paths = [os.path.abspath(p) if "://" not in p else p for p in inputs]
        ds = _read(ray, paths, fmt, fields).map_batches(
            RayScorer,
            fn_constructor_kwargs={"models": models, "fields": fields, "fmt": fmt, "threads": max(1, int(num_cpus))},
            batch_size=chunk_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            num_cpus=num_cpus,
            num_gpus=num_gpus,
        )
        pending: list[Outcome] = []
        seen = 0
        try:
            for batch in ds.iter_batches(batch_size=chunk_size, batch_format="pyarrow"):
                for encoded in batch.column("outcome").to_pylist():
                    seen += 1
                    if seen <= skip:
                        continue
                    data: dict[str, Any] = json.loads(encoded)
                    pending.append(Outcome(id=data["id"], result=data["result"], error=data["error"]))
                    if len(pending) >= chunk_size:
                        yield pending
                        pending = []
        except Exception as err:  # noqa: BLE001 - Ray wraps the cause in its own error types
            cause = _root_cause(err)
            raise EngineError(f"the Ray pipeline failed: {type(cause).__name__}: {_last_line(cause)}") from None
        if pending:
            yield pending
    finally:
        if started:
            ray.shutdown()
