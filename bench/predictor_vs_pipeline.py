"""Section `predictor`: our Predictor against `transformers.pipeline("token-classification",
aggregation_strategy="first")` on the ANERcorp test sentences as raw text.

Both sides get the same strings (gold tokens joined by spaces) and the same
model; each side runs in its own process so its peak RSS is its own. Labels
are compared per gold token before any speed is compared.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from bench.common import (
    BenchOptions,
    WorkerError,
    anercorp_sentences,
    base_ner_model,
    bundled,
    call_in_subprocess,
    compared,
    ensure_onnx_exports,
    write_result,
)

# How transformers' token-classification pipeline decodes: each word's most probable label, sentence by sentence.
PIPELINE_DECODING = {"ner_decoding": "argmax", "document_context": False}


@dataclass(frozen=True)
class Span:
    """An entity as character offsets, the shape `entities_to_tags` reads."""

    start: int
    end: int
    label: str


# ---- label agreement ----------------------------------------------------------
def word_tags(tokens: Sequence[str], entities: Sequence[Sequence]) -> list[str]:
    """BIO tags over the gold tokens of one sentence from `(start, end, label)` entities."""
    from kashif.training.evaluate import entities_to_tags, join_tokens

    _, spans = join_tokens(tokens)
    return entities_to_tags(spans, [Span(int(s), int(e), str(label)) for s, e, label in entities])


def label_agreement(sentences: Sequence[Sequence[str]], ours: Sequence[Sequence[Sequence]], theirs: Sequence[Sequence[Sequence]],
                    identical: Sequence[bool] | None = None) -> dict:
    """Share of gold tokens (and of whole sentences) on which two sets of entities
    give the same tag; with `identical`, also over the sentences marked True only."""
    if not (len(sentences) == len(ours) == len(theirs)):
        raise ValueError("sentences and both entity lists must have the same length")
    identical = list(identical) if identical is not None else [True] * len(sentences)
    counts = {"all": [0, 0, 0, 0], "identical": [0, 0, 0, 0]}  # same words, words, same sentences, sentences
    for tokens, a, b, same_input in zip(sentences, ours, theirs, identical):
        ta, tb = word_tags(tokens, a), word_tags(tokens, b)
        agree = sum(x == y for x, y in zip(ta, tb))
        for key in ("all", "identical") if same_input else ("all",):
            c = counts[key]
            c[0], c[1], c[2], c[3] = c[0] + agree, c[1] + len(tokens), c[2] + (agree == len(tokens)), c[3] + 1
    (sw, w, ss, s), (isw, iw, _, i_s) = counts["all"], counts["identical"]
    return {"word_agreement": sw / w if w else 1.0, "sentence_agreement": ss / s if s else 1.0, "words": w, "sentences": s,
            "identical_input_word_agreement": isw / iw if iw else None, "identical_input_sentences": i_s}


def identical_inputs(model_dir: str, texts: Sequence[str]) -> list[bool]:
    """Per text: does the model see the same word pieces in one piece from both sides?
    The Predictor splits sentences, splits letters from digits (`و6` → `و` `6`)
    and applies the model's normalisation (e.g. drops diacritics) before the
    tokenizer; the pipeline feeds the raw string. Where that changes the pieces,
    a random-weight model's labels change for the whole sentence."""
    from transformers import AutoTokenizer

    from kashif.model.metadata import ModelMetadata
    from kashif.model.text import Normalization, normalize_word, split_sentences, split_words

    tok = AutoTokenizer.from_pretrained(model_dir)
    meta = ModelMetadata.load(model_dir)
    norm = meta.normalization if meta else Normalization()
    out = []
    for text in texts:
        raw = [text[s:e] for s, e in split_words(text)]
        words = [normalize_word(w, norm) or "[UNK]" for w in raw]
        if words != raw or len(split_sentences(text)) > 1:
            # also where the ids agree: the pipeline then finds a piece shorter than its
            # text span and glues that word to the one before (its `is_subword` test)
            out.append(False)
            continue
        ours = tok(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
        out.append(ours == tok(text, add_special_tokens=False)["input_ids"])
    return out


# ---- the two sides, each in its own process ----------------------------------
def measure_predictor(spec: dict) -> dict:
    import time

    from kashif.model.predictor import Predictor, PredictorConfig

    t0 = time.perf_counter()
    # The pipeline's decoding (each word's best label, no document context), so that labels can be equal; the
    # default constrained decoding differs from the pipeline by design (and costs ~0.3 ms per 30-word sentence).
    config = PredictorConfig(backend=spec["backend"], precision=spec["precision"], threads=spec["threads"],
                             batch_size=spec.get("batch_size", 32), device=spec.get("device", "cpu"),
                             **PIPELINE_DECODING)
    predictor = Predictor.from_refs(ner_model=spec["model"], config=config, tasks=("ner",))
    texts = spec["texts"]
    predictor.entities(texts[:16])  # warm-up: oneDNN kernels, ORT arenas
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = predictor.entities(texts)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "load_seconds": load_s,
            "entities": [[(e.start, e.end, e.label) for e in doc] for doc in found]}


def measure_pipeline(spec: dict) -> dict:
    import time

    import torch
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(spec["threads"])
    t0 = time.perf_counter()
    pipe = pipeline("token-classification", model=spec["model"], tokenizer=spec["model"], aggregation_strategy="first", device="cpu")
    texts = spec["texts"]
    pipe(texts[:16], batch_size=spec["batch_size"])
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.inference_mode():
        found = pipe(texts, batch_size=spec["batch_size"])
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "load_seconds": load_s,
            "entities": [[(e["start"], e["end"], e["entity_group"]) for e in doc] for doc in found]}


def fastest_backend(opts: BenchOptions) -> tuple[str, str]:
    """The fastest backend on the base model among those that keep ΔF1 ≤ 0.3 on
    the bundled model, from this run's backends section when there is one;
    otherwise the library's default (`--backend auto --precision auto`)."""
    path = opts.results_dir / "backends.json"
    try:
        data = json.loads(path.read_text())
        choice = data.get("recommended_default")
        if choice and data["meta"]["date"] == opts.started:
            return choice["backend"], choice["precision"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return "auto", "auto"


def compare_on_model(opts: BenchOptions, name: str, model_dir: str, sentences: list[list[str]], pipeline_batches: Sequence[int]) -> dict:
    from kashif.training.evaluate import join_tokens

    texts = [join_tokens(tokens)[0] for tokens in sentences]
    words = sum(len(t) for t in sentences)
    fast = fastest_backend(opts)
    identical = identical_inputs(model_dir, texts)
    rows: dict[str, dict] = {}
    sides = [(f"pipeline (batch {b})", "bench.predictor_vs_pipeline:measure_pipeline", {"batch_size": b}) for b in pipeline_batches]
    sides += [(f"predictor {backend} {precision}", "bench.predictor_vs_pipeline:measure_predictor", {"backend": backend, "precision": precision})
              for backend, precision in dict.fromkeys([("torch", "fp32"), fast])]
    reference = None
    for label, target, extra in sides:
        spec = {"model": model_dir, "texts": texts, "threads": opts.threads, "batch_size": 32, **extra}
        try:
            out = call_in_subprocess(target, spec, threads=opts.threads, timeout=1800)
        except WorkerError as err:
            rows[label] = {"error": str(err)}
            continue
        entities = out.pop("entities")
        if reference is None:
            reference = entities
        row = {**extra, "sentences_per_s": len(texts) / out["seconds"], "words_per_s": words / out["seconds"],
               "seconds": out["seconds"], "load_seconds": out["load_seconds"], "peak_rss_mb": out["peak_rss_mb"],
               "agreement_with_pipeline": label_agreement(sentences, entities, reference, identical)}
        rows[label] = row
    pipelines = [r for k, r in rows.items() if k.startswith("pipeline") and "sentences_per_s" in r]
    best_pipe = max((r["sentences_per_s"] for r in pipelines), default=None)
    ceiling = fp32_ceiling(opts, model_dir, texts, best_pipe)
    for key, row in rows.items():
        if key.startswith("predictor") and best_pipe and "sentences_per_s" in row:
            row["speedup_vs_best_pipeline"] = row["sentences_per_s"] / best_pipe
            default_pipe = rows.get(f"pipeline (batch {pipeline_batches[0]})", {})
            if "sentences_per_s" in default_pipe:
                row["speedup_vs_default_pipeline"] = row["sentences_per_s"] / default_pipe["sentences_per_s"]
    return {"model": name, "model_dir": model_dir, "sentences": len(texts), "words": words, "rows": rows,
            "identical_input_sentences": sum(identical), "fp32_ceiling": ceiling}


def fp32_ceiling(opts: BenchOptions, model_dir: str, texts: Sequence[str], pipeline_sentences_per_s: float | None) -> dict | None:
    """How fast any fp32 implementation could be relative to the pipeline: the
    pipeline's own FLOPs (each sentence at its own length, as it runs them)
    per second, against the fastest fp32 matmul this run measured. Equal labels
    need fp32 (bf16 rounding flips near-tied labels of a random-weight model),
    so this ratio bounds the speed-up at equal labels."""
    from transformers import AutoConfig, AutoTokenizer

    from bench.flops import flops_per_sequence

    try:
        flops = json.loads((opts.results_dir / "flops.json").read_text())
        if flops["meta"]["date"] != opts.started or not pipeline_sentences_per_s:
            return None
        limits = [flops["matmul_limit_gflop_per_s"].get("fp32")]
        limits += [b.get("window_limit_gflop_per_s", {}).get("fp32") for b in flops["backends"]]
        limit = max(v for v in limits if v)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    config = AutoConfig.from_pretrained(model_dir).to_dict()
    lengths = [len(ids) for ids in AutoTokenizer.from_pretrained(model_dir)(list(texts))["input_ids"]]
    gflop = sum(flops_per_sequence(config, n, config.get("num_labels", 9)) for n in lengths) / 1e9
    achieved = gflop * pipeline_sentences_per_s / len(texts)
    return {"pipeline_gflop_per_s": achieved, "fp32_limit_gflop_per_s": limit, "pipeline_fraction_of_fp32_limit": achieved / limit,
            "max_fp32_speedup": limit / achieved}


def run(opts: BenchOptions) -> dict:
    n = opts.extra.get("sentences") or (48 if opts.quick else None)
    sentences, _ = anercorp_sentences(opts.anercorp_test, n)
    pipeline_batches = (1,) if opts.quick else (1, 32)
    models = []
    base = base_ner_model(opts)
    ensure_onnx_exports(opts, {"ner": base})
    models.append(compare_on_model(opts, "BERT-base shape (random weights)", str(base), sentences, pipeline_batches))
    notes = []
    ner = bundled(opts, "ner")
    if ner is None:
        notes.append("bundled model absent (model/bundled/ner): measured on the BERT-base shape only")
    else:
        ensure_onnx_exports(opts, {"ner": ner})
        models.append(compare_on_model(opts, "bundled NER model", str(ner), sentences, pipeline_batches))
    previous = compared(opts, "ner")
    if previous is not None:
        ensure_onnx_exports(opts, {"ner": previous})
        models.append(compare_on_model(opts, f"compared NER model ({previous.parent.name}/{previous.name}, --compare-bundle)",
                                       str(previous), sentences, pipeline_batches))
    payload = {"models": models, "notes": notes,
               "words_definition": "words = gold ANERcorp tokens (the text is those tokens joined by spaces)"}
    write_result(opts, "predictor", payload)
    plot(opts, payload)
    return payload


def plot(opts: BenchOptions, payload: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(payload["models"]), figsize=(6 * len(payload["models"]), 3.6), squeeze=False)
    for ax, model in zip(axes[0], payload["models"]):
        rows = [(k, r["sentences_per_s"]) for k, r in model["rows"].items() if "sentences_per_s" in r]
        ax.barh([k for k, _ in rows], [v for _, v in rows], color=["#999" if k.startswith("pipeline") else "#2a7" for k, _ in rows])
        ax.set_xlabel("sentences/s (ANERcorp test)")
        ax.set_title(model["model"], fontsize=10)
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(opts.results_dir / "predictor.png", dpi=110)
    plt.close(fig)
