"""`kashif score`: score whole files offline, resumably.

    kashif score news.jsonl.gz --output scored.jsonl --model bundle/ --target "التطبيع"

Rows are read in chunks, scored with the shared Predictor (in this process,
in `--workers` processes, or on Ray), and committed shard by shard; a killed
job rerun with the same command continues where it stopped (shards.py).
"""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from kashif.model.messages import first_line
from kashif.model.tasks import ANSWER_NAMES, PAIR, TASKS, TOKEN
from kashif.serve.batch.errors import EngineError, UsageError
from kashif.serve.batch.exports import (
    ANNOTATION_FORMATS,
    ExportSpec,
    entity_types,
    format_from_path,
    label_config_path,
    model_version,
    needs_text,
    output_writer,
)
from kashif.serve.batch.readers import Row, count_rows, detect_format, is_remote, iter_chunks
from kashif.serve.batch.rows import FieldSpec, ModelSpec, Outcome, entity_counts, finalize, score_rows
from kashif.serve.batch.settings import ScoreSettings
from kashif.serve.batch.shards import ShardStore

EXIT_OK, EXIT_ROW_ERRORS = 0, 1
RESUME_HINT = "rerun the same command to resume"


@dataclass
class Job:
    inputs: list[str]
    formats: list[str]
    output: Path
    errors: Path
    fields: FieldSpec
    models: ModelSpec
    refs: dict[str, str]
    output_format: str = "jsonl"


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def job_from_settings(settings: ScoreSettings) -> Job:
    """The job the settings describe, checked (UsageError: what is wrong with them) and with its models resolved."""

    if settings.chunk_size < 1:
        raise UsageError("--chunk-size must be at least 1")
    if settings.workers < 1:
        raise UsageError("--workers must be at least 1")
    if settings.workers > 1 and settings.engine == "ray":
        raise UsageError("--workers is for the local engine; with --engine ray use --ray-concurrency")
    if settings.ray_concurrency < 1:
        raise UsageError("--ray-concurrency must be at least 1")
    output = Path(settings.output)
    by_name = format_from_path(output)
    out_format = settings.output_format or by_name
    if out_format is None:
        raise UsageError(f"{output}: the output must end in .jsonl, .jsonl.gz or .parquet, or name its format with --output-format")
    if out_format in ("jsonl", "parquet") and by_name != out_format:
        raise UsageError(f"{output}: --output-format {out_format} needs an output ending in {'.jsonl or .jsonl.gz' if out_format == 'jsonl' else '.parquet'}")
    if not output.parent.resolve().is_dir():
        raise UsageError(f"{output.parent}: no such directory for the output")
    formats = [settings.format or detect_format(path) for path in settings.inputs]
    for path in settings.inputs:
        if is_remote(path) and settings.engine != "ray":
            raise UsageError(f"{path}: object-store paths are read by the Ray engine (--engine ray)")
        if not is_remote(path) and not Path(path).exists():
            raise UsageError(f"{path}: no such file")
    refs = settings.resolve()
    served = [t.answer for t in TASKS if t.name in refs]
    token_answers = [t.answer for t in TASKS if t.head == TOKEN]  # what the annotation formats hold
    pair_tasks = [t for t in TASKS if t.inputs == PAIR]  # what --target/--target-field ask for
    asked = [t.strip() for t in (settings.tasks or "").split(",") if t.strip()]
    if out_format in ANNOTATION_FORMATS:
        if asked and asked != token_answers:
            raise UsageError(f"--output-format {out_format} holds entities only; use --tasks entities (or leave --tasks out)")
        if settings.target or settings.target_field:
            raise UsageError(f"--output-format {out_format} holds entities only; --target/--target-field ask for stance")
        if not set(token_answers) & set(served):
            raise UsageError("no entities model: name one with --model or --ner-model")
        served = token_answers
    if settings.tasks:
        tasks = asked
        unknown = [t for t in tasks if t not in ANSWER_NAMES]
        if unknown or not tasks:
            raise UsageError(f"--tasks takes {', '.join(ANSWER_NAMES)} (one or more), not {settings.tasks!r}")
        missing = [t for t in tasks if t not in served]
        if missing:
            flags = ", ".join(t.model_flag for t in TASKS)
            raise UsageError(f"no {' or '.join(missing)} model: name one with --model, {flags}")
        tasks = [t for t in ANSWER_NAMES if t in tasks]
    else:
        tasks = served
    if (settings.target or settings.target_field) and not any(t.answer in tasks for t in pair_tasks):
        names = ", ".join(t.answer for t in pair_tasks)
        flags = ", ".join(t.model_flag for t in pair_tasks)
        raise UsageError(f"--target/--target-field ask for {names}, but no {names} model is used (see --tasks, {flags})")
    fields = FieldSpec(settings.text_field, settings.id_field, settings.target_field, tuple(settings.target), tuple(tasks), with_text=needs_text(out_format))
    # absolute, so that worker processes and Ray actors find the same directories
    absolute = {k: os.path.abspath(r) if r and os.path.exists(r) else r for k, r in settings.references().items()}
    models = ModelSpec(absolute, settings.predictor, tuple(tasks))
    errors = Path(settings.errors) if settings.errors else output.with_name(output.name + ".errors.jsonl")
    return Job(list(settings.inputs), formats, output, errors, fields, models, refs, out_format)


def fingerprint(job: Job) -> dict:
    """What must not change between a run and its resumption."""
    inputs = []
    for path in job.inputs:
        if is_remote(path):
            inputs.append({"path": path})
            continue
        p = Path(path).resolve()
        stat = p.stat()
        inputs.append({"path": str(p), "size": stat.st_size if p.is_file() else None, "mtime_ns": stat.st_mtime_ns})
    config = job.models.config
    return {
        "inputs": inputs,
        # with_text follows from the output format, which is part of the fingerprint below
        "fields": {k: v for k, v in asdict(job.fields).items() if k != "with_text"} | {"targets": list(job.fields.targets), "tasks": list(job.fields.tasks)},
        "models": {task: str(Path(ref).resolve()) if Path(ref).exists() else ref for task, ref in sorted(job.refs.items())},
        "inference": {"backend": config.backend, "precision": config.precision, "subword_strategy": config.subword_strategy},
        "output": job.output_format,
    }


# ---- local engine -------------------------------------------------------
_worker_predictor = None
_worker_error: Exception | None = None


def _worker_init(models: ModelSpec, threads: int) -> None:
    global _worker_predictor, _worker_error
    try:
        _worker_predictor = models.build(threads=threads)
    except Exception as err:  # noqa: BLE001 - handed to the parent with the first chunk
        _worker_error = err


def _worker_score(rows: list[Row], fields: FieldSpec) -> list[Outcome]:
    if _worker_error is not None:
        raise _worker_error
    return score_rows(_worker_predictor, rows, fields)


def local_outcomes(job: Job, skip: int, chunk_size: int, workers: int, threads: int | None) -> Iterator[list[Outcome]]:
    """Outcomes of every row after the first `skip`, one list per chunk, in order."""
    chunks = iter_chunks(job.inputs, job.fields.text_field, job.fields.columns(), chunk_size, skip=skip, formats=job.formats)
    if workers == 1:
        predictor = job.models.build(threads=threads)
        for chunk in chunks:
            yield score_rows(predictor, chunk, job.fields)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    per_worker = threads or max(1, _available_cores() // workers)
    context = multiprocessing.get_context("spawn")  # fork after torch threads start can deadlock
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(job.models, per_worker)) as pool:
        pending: deque = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(_worker_score, chunk, job.fields))
                while len(pending) >= 2 * workers:  # bounded: at most 2 chunks per worker in flight
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


# ---- the job ------------------------------------------------------------
def _total_rows(job: Job) -> int | None:
    total = 0
    for path, fmt in zip(job.inputs, job.formats):
        n = count_rows(path, fmt)
        if n is None:
            return None
        total += n
    return total


def _summary(job: Job, store: ShardStore, resumed: int, scored_now: int, seconds: float) -> str:
    entities = store.entity_totals()
    parts = [f"{store.scored} documents scored", f"{store.errors} errors"]
    if "entities" in job.fields.tasks:
        per_type = ", ".join(f"{label} {n}" for label, n in sorted(entities.items())) or "none"
        parts.append(f"entities {sum(entities.values())} ({per_type})")
    rate = scored_now / seconds if seconds > 0 else 0.0
    parts.append(f"{rate:.1f} docs/s ({scored_now} rows in {seconds:.1f} s)")
    if resumed:
        parts.append(f"resumed after {resumed} rows")
    line = "kashif score: " + "; ".join(parts) + f" → {job.output}"
    if job.output_format != "jsonl":
        line += f" ({job.output_format})"
    if job.output_format == "label-studio":
        line += f"; labeling config in {label_config_path(job.output)}"
    if store.errors:
        line += f" (errors in {job.errors})"
    return line


def run_job(job: Job, settings: ScoreSettings) -> int:
    store = ShardStore(job.output, fingerprint(job))
    store.open()
    resumed = store.rows_done
    started = time.perf_counter()
    try:
        done_now = _score_into(store, job, settings, resumed)
    except BaseException:
        if not store.shards:  # nothing committed: leave no empty parts directory behind
            store.discard()
        raise
    ner_ref = job.refs.get("ner")
    spec = ExportSpec(job.output_format, job.fields.id_field is None, job.fields.tasks, model_version(ner_ref))
    if job.output_format == "label-studio":
        from kashif.model.annotation_formats import label_studio_config

        config = label_config_path(job.output)
        config.write_text(label_studio_config(entity_types(ner_ref, list(store.entity_totals()))), encoding="utf-8")
    store.merge(job.errors, output_writer(spec, job.output, store.iter_records, store.iter_lines))
    print(_summary(job, store, resumed, done_now, time.perf_counter() - started), file=sys.stderr)
    return EXIT_ROW_ERRORS if store.errors else EXIT_OK


def _score_into(store: ShardStore, job: Job, settings: ScoreSettings, resumed: int) -> int:
    """Score and commit every row not committed yet; the number of rows done now."""
    from tqdm import tqdm

    done_now = 0
    if not store.finished:
        if resumed and not settings.quiet:
            print(f"kashif score: resuming after {resumed} committed rows", file=sys.stderr)
        total = _total_rows(job) if not settings.quiet else None
        if settings.engine == "ray":
            from kashif.serve.batch.ray_engine import ray_outcomes

            outcomes = ray_outcomes(job.inputs, job.formats, job.fields, job.models, skip=resumed, chunk_size=settings.chunk_size, concurrency=settings.ray_concurrency, num_cpus=settings.num_cpus, num_gpus=settings.num_gpus)
        else:
            outcomes = local_outcomes(job, resumed, settings.chunk_size, settings.workers, settings.predictor.threads)
        with tqdm(total=total, initial=resumed, unit="doc", disable=settings.quiet, file=sys.stderr, dynamic_ncols=True, smoothing=0.1) as bar:
            for chunk in outcomes:
                start = store.rows_done
                records, errors = [], []
                for i, outcome in enumerate(chunk):
                    record, error = finalize(outcome, start + i, job.fields)
                    (records if record is not None else errors).append(record if record is not None else error)
                store.commit(len(chunk), records, errors, entity_counts(records))
                done_now += len(chunk)
                bar.update(len(chunk))
        store.mark_finished()
    return done_now


def score(settings: ScoreSettings) -> int:
    """The `kashif score` job; its exit code. Failures of the job itself (not of rows) are EngineErrors."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return run_job(job_from_settings(settings), settings)
    except (OSError, BrokenProcessPool, EngineError) as err:
        raise EngineError(f"{first_line(err)}; {RESUME_HINT}") from err
