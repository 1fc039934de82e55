"""Section `backends`: torch fp32 / bf16 weights / dynamic int8 and ONNX Runtime
fp32 (fused) / static int8 behind the one Predictor, and what `auto` picks on this
host as it is and emulating a CPU without bf16 (KASHIF_CPU_BF16=0): speed, size, RSS,
what each costs in quality (ΔF1 on ANERcorp test, Δmacro-F1 on ANS test), and the
ratio of `auto` to the Hugging Face pipeline on both."""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

from bench.common import (
    BenchOptions,
    WorkerError,
    anercorp_sentences,
    base_ner_model,
    bundled,
    call_in_subprocess,
    ensure_onnx_exports,
    rss_mb,
    spread,
    write_result,
)
from kashif.model.tasks import TASK_NAMES

BACKENDS = [("torch", "fp32"), ("torch", "bf16"), ("torch", "int8"), ("onnx", "fp32"), ("onnx", "int8")]
AUTO = ("auto", "auto")
# `auto` measured on this host as it is and as a CPU without native bf16 would run it (the environment of its process).
HOSTS = {"as-is": {}, "no native bf16 (KASHIF_CPU_BF16=0)": {"KASHIF_CPU_BF16": "0"}}
PIPELINE_BATCH = 8
MAX_F1_DROP = 0.3  # points of F1, the bound for a default


def _size_mb(predictor, task: str, model_dir: str) -> float:
    backend = predictor.backend(task)
    if backend.name == "onnx":
        path = Path(backend.path)
        return round(sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20, 1)
    if backend.precision == "int8":
        import torch

        buffer = io.BytesIO()
        torch.save(backend.model.state_dict(), buffer)  # the quantised weights as they would be stored
        return round(buffer.tell() / 2**20, 1)
    return round(sum(p.stat().st_size for p in Path(model_dir).glob("*.safetensors")) / 2**20, 1)


def measure_backend(spec: dict) -> dict:
    """One backend on one process: NER (speed, and F1 when gold tags are given) and stance."""
    os.environ.update(spec.get("env", {}))
    from kashif.model.predictor import Predictor, PredictorConfig

    config = PredictorConfig(backend=spec["backend"], precision=spec["precision"], threads=spec["threads"])
    out: dict = {}
    t0 = time.perf_counter()
    predictor = Predictor.from_refs(ner_model=spec.get("ner_model"), stance_model=spec.get("stance_model"), config=config,
                                    tasks=tuple(t for t in TASK_NAMES if spec.get(f"{t}_model")))
    out["load_seconds"] = time.perf_counter() - t0
    out["rss_after_load_mb"] = round(rss_mb(), 1)
    out["chosen"] = {task: {k: info[k] for k in ("backend", "precision", "reason")} for task, info in predictor.info().items()}
    if spec.get("ner_model"):
        from kashif.training.evaluate import entities_to_tags, join_tokens
        from kashif.training.metrics import ner_metrics

        joined = [join_tokens(tokens) for tokens in spec["tokens"]]
        texts = [text for text, _ in joined]
        predictor.entities(texts[:16])
        t0 = time.perf_counter()
        found = predictor.entities(texts)
        seconds = time.perf_counter() - t0
        ner = {"sentences": len(texts), "seconds": seconds, "sentences_per_s": len(texts) / seconds,
               "words_per_s": sum(len(t) for t in spec["tokens"]) / seconds, "size_mb": _size_mb(predictor, "ner", spec["ner_model"])}
        if spec.get("tags"):
            pred = [entities_to_tags(spans, ents) for (_, spans), ents in zip(joined, found)]
            metrics = ner_metrics(spec["tags"], pred)
            ner.update(f1=100 * metrics["f1"], macro_f1=100 * metrics["macro_f1"])
        out["ner"] = ner
    if spec.get("stance_model"):
        from kashif.training.metrics import stance_metrics

        items = list(zip(spec["stance_texts"], spec["stance_targets"]))
        predictor.stance(items[:16])
        t0 = time.perf_counter()
        results = predictor.stance(items)
        seconds = time.perf_counter() - t0
        metrics = stance_metrics(spec["stance_labels"], [r.label for r in results], predictor.labels("stance"))
        out["stance"] = {"pairs": len(items), "seconds": seconds, "pairs_per_s": len(items) / seconds,
                         "macro_f1": 100 * metrics["macro_f1"], "accuracy": 100 * metrics["accuracy"],
                         "size_mb": _size_mb(predictor, "stance", spec["stance_model"])}
    out["rss_at_end_mb"] = round(rss_mb(), 1)  # steady state; peak_rss_mb also holds loading (ORT session set-up)
    return out


def _stance_data(opts: BenchOptions, limit: int | None) -> dict:
    from kashif.training.data import load_stance

    data = load_stance(opts.ans_test)
    idx = spread(len(data), limit)
    return {"stance_texts": [data["text"][i] for i in idx], "stance_targets": [data["target"][i] for i in idx],
            "stance_labels": [data["label"][i] for i in idx]}


def run(opts: BenchOptions) -> dict:
    from kashif.model.backends.torch_backend import cpu_supports_bf16

    quick = opts.quick
    notes: list[str] = []
    backends = list(BACKENDS)
    if not cpu_supports_bf16():
        backends.remove(("torch", "bf16"))
        notes.append("torch bf16 skipped: this CPU has no bf16 support in oneDNN")
    ner, stance = bundled(opts, "ner"), bundled(opts, "stance")
    base = base_ner_model(opts)
    ensure_onnx_exports(opts, {"ner": base})
    ensure_onnx_exports(opts, {"ner": ner, "stance": stance})
    tokens, tags = anercorp_sentences(opts.anercorp_test, opts.extra.get("sentences") or (120 if quick else None))
    base_tokens, _ = anercorp_sentences(opts.anercorp_test, opts.extra.get("base_sentences") or (32 if quick else 300))
    stance_spec = _stance_data(opts, 90 if quick else None) if stance else {}
    if ner is None and stance is None:
        notes.append("bundled model absent (model/bundled/): no quality figures; speed on the BERT-base shape only")

    runs = [(backend, precision, "as-is", {}) for backend, precision in backends]
    runs += [(*AUTO, host, env) for host, env in HOSTS.items()]
    rows = []
    for backend, precision, host, env in runs:
        row: dict = {"backend": backend, "precision": precision, "host": host}
        if ner or stance:
            spec = {"backend": backend, "precision": precision, "threads": opts.threads, "env": env,
                    "ner_model": str(ner) if ner else None, "tokens": tokens, "tags": tags,
                    "stance_model": str(stance) if stance else None, **stance_spec}
            try:
                row["bundled"] = call_in_subprocess("bench.backends:measure_backend", spec, threads=opts.threads)
            except WorkerError as err:
                row["bundled"] = {"error": str(err)}
        spec = {"backend": backend, "precision": precision, "threads": opts.threads, "env": env, "ner_model": str(base),
                "tokens": base_tokens}
        try:
            row["base"] = call_in_subprocess("bench.backends:measure_backend", spec, threads=opts.threads)
        except WorkerError as err:
            row["base"] = {"error": str(err)}
        rows.append(row)
        print(f"  backends: {backend} {precision} ({host}) done", flush=True)

    _add_deltas(rows)
    pipeline = _pipeline_ratios(opts, rows, str(ner), tokens) if ner else None
    payload = {"rows": rows, "notes": notes, "recommended_default": recommend(rows), "pipeline": pipeline,
               "sentences": {"bundled_ner": len(tokens), "base": len(base_tokens), "stance_pairs": len(stance_spec.get("stance_texts", []))}}
    write_result(opts, "backends", payload)
    plot(opts, payload)
    return payload


def _pipeline_ratios(opts: BenchOptions, rows: list[dict], ner_model: str, tokens: list[list[str]]) -> dict:
    """The Hugging Face token-classification pipeline (torch fp32, batch PIPELINE_BATCH) on the bundled NER model,
    and `auto`'s speed over it on each host."""
    from kashif.training.evaluate import join_tokens

    spec = {"model": ner_model, "texts": [join_tokens(t)[0] for t in tokens], "batch_size": PIPELINE_BATCH, "threads": opts.threads}
    try:
        measured = call_in_subprocess("bench.predictor_vs_pipeline:measure_pipeline", spec, threads=opts.threads)
    except WorkerError as err:
        return {"error": str(err)}
    per_s = len(tokens) / measured["seconds"]
    out = {"batch_size": PIPELINE_BATCH, "sentences_per_s": per_s}
    for row in rows:
        if (row["backend"], row["precision"]) == AUTO and _get(row, "bundled", "ner", "sentences_per_s"):
            out[f"auto, {row['host']}"] = {"chosen": _get(row, "bundled", "chosen", "ner"),
                                           "times_pipeline": _get(row, "bundled", "ner", "sentences_per_s") / per_s}
    return out


def _get(row: dict, *keys: str):
    for k in keys:
        if not isinstance(row, dict) or k not in row:
            return None
        row = row[k]
    return row


def _add_deltas(rows: list[dict]) -> None:
    ref = next(r for r in rows if (r["backend"], r["precision"]) == ("torch", "fp32"))  # "× fp32" and Δ are against it
    for row in rows:
        for path, key in ((("bundled", "ner"), "f1"), (("bundled", "stance"), "macro_f1")):
            here, there = _get(row, *path, key), _get(ref, *path, key)
            if here is not None and there is not None:
                _get(row, *path)[f"delta_{key}"] = here - there
        for path, key in ((("base", "ner"), "sentences_per_s"), (("bundled", "ner"), "sentences_per_s"), (("bundled", "stance"), "pairs_per_s")):
            here, there = _get(row, *path, key), _get(ref, *path, key)
            if here and there:
                _get(row, *path)["speedup_vs_torch_fp32"] = here / there


# Torch's dynamic int8 scales activations per batch, so a text's labels depend on which
# other texts share its batch (1.7 % of ANERcorp test sentences changed with ORT's dynamic
# int8, which Kashif no longer uses): measured and reported, but not eligible as the default.
BATCH_DEPENDENT = {("torch", "int8")}


def recommend(rows: list[dict]) -> dict:
    """The fastest backend (on the base shape, else the bundled model) whose NER F1 and
    stance macro-F1 each drop by at most MAX_F1_DROP points against torch fp32, among
    those whose labels do not depend on batch composition."""
    candidates = []
    for row in rows:
        if (row["backend"], row["precision"]) in BATCH_DEPENDENT or (row["backend"], row["precision"]) == AUTO:
            continue
        drops = [d for d in (_get(row, "bundled", "ner", "delta_f1"), _get(row, "bundled", "stance", "delta_macro_f1")) if d is not None]
        if any(d < -MAX_F1_DROP for d in drops):
            continue
        speed = _get(row, "base", "ner", "speedup_vs_torch_fp32") or _get(row, "bundled", "ner", "speedup_vs_torch_fp32")
        if speed:
            candidates.append((speed, row, bool(drops)))
    if not candidates:
        return {"backend": "torch", "precision": "fp32", "why": "no other backend measured within the quality bound"}
    speed, row, checked = max(candidates, key=lambda c: c[0])
    why = (f"{speed:.2f}× torch fp32" + ("" if checked else "; quality NOT checked (no bundled model)")
           + f"; {', '.join(' '.join(p) for p in sorted(BATCH_DEPENDENT))} not eligible: labels depend on batch composition")
    return {"backend": row["backend"], "precision": row["precision"], "speedup": speed, "quality_checked": checked, "why": why}


def plot(opts: BenchOptions, payload: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = payload["rows"]
    names = [f"{r['backend']} {r['precision']}" + ("" if r.get("host", "as-is") == "as-is" else f" ({r['host']})") for r in rows]
    series = [("BERT-base shape, NER sentences/s", ("base", "ner", "sentences_per_s")),
              ("bundled NER, sentences/s", ("bundled", "ner", "sentences_per_s")),
              ("bundled NER, ΔF1 (points)", ("bundled", "ner", "delta_f1"))]
    series = [(t, p) for t, p in series if any(_get(r, *p) is not None for r in rows)]
    if not series:
        return
    fig, axes = plt.subplots(1, len(series), figsize=(4.6 * len(series), 3.4), squeeze=False)
    for ax, (title, path) in zip(axes[0], series):
        values = [_get(r, *path) or 0.0 for r in rows]
        ax.barh(names, values, color="#2a7")
        ax.set_title(title, fontsize=10)
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(opts.results_dir / "backends.png", dpi=110)
    plt.close(fig)
