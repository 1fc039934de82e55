"""Section `flops`: the machine's matmul limit (fp32, bf16, int8) and each
backend's achieved GFLOP/s on the BERT-base shape, as a fraction of it, at
the batch sizes the server forms."""
from __future__ import annotations

import time
from typing import Mapping

from bench.common import (
    BenchOptions,
    WorkerError,
    anercorp_sentences,
    base_ner_model,
    call_in_subprocess,
    ensure_onnx_exports,
    write_result,
)
from kashif.model.messages import first_line

BATCH_SIZES = (1, 8, 32)
LIMIT_SIZES = (1024, 2048, 4096)
LIMIT_SIZES_QUICK = (1024, 2048)
MATCHED_LIMIT = {"fp32": "fp32", "bf16": "bf16", "int8": "int8"}
TARGET_FRACTION = 0.60


def flops_per_sequence(config: Mapping, length: int, num_labels: int = 9) -> float:
    """Forward FLOPs of a BERT encoder + token-classification head on one sequence
    of `length` tokens: 2·(multiply-adds) of the Q/K/V/O projections, the FFN, the
    attention scores and the weighted sum, and the head. Embedding lookups,
    softmax, layer norms and GELU are left out (< 1 %)."""
    h, f, layers, n = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"], length
    per_layer = 2 * 4 * n * h * h + 2 * 2 * n * h * f + 2 * 2 * n * n * h
    return float(layers * per_layer + 2 * n * h * num_labels)


def _matmul_gflops(name: str, n: int, seconds: float) -> float:
    """Best GFLOP/s of an n×n×n matmul in `name` precision over `seconds`."""
    import torch

    if name == "int8":
        a = torch.randint(-128, 127, (n, n), dtype=torch.int8)
        b = torch.randint(-128, 127, (n, n), dtype=torch.int8)
        op = lambda: torch._int_mm(a, b)  # noqa: E731
    else:
        dtype = torch.float32 if name == "fp32" else torch.bfloat16
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        op = lambda: a @ b  # noqa: E731
    op()
    best, spent = float("inf"), 0.0
    while spent < seconds:
        t0 = time.perf_counter()
        op()
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
    return 2 * n**3 / best / 1e9


def measure_matmul(spec: dict) -> dict:
    """Best GFLOP/s of square matmuls per dtype over the sizes in `spec["sizes"]`,
    on the worker's threads. No single size is the peak: at n=4096 the bf16 and
    int8 operands outgrow the caches and AMX runs at a third of its n=2048 speed."""
    out = {}
    for name in spec.get("precisions", ("fp32", "bf16", "int8")):
        try:
            out[name] = max(_matmul_gflops(name, n, spec["seconds"]) for n in spec["sizes"])
        except (RuntimeError, NotImplementedError) as err:
            out[name] = None
            out[f"{name}_error"] = first_line(err)
    return out


def _median_batch(lengths: list[int], batch: int) -> list[int]:
    """Indices of `batch` sequences around the median length, as the length-sorted batcher groups them."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    mid = max(0, min(len(order) - batch, len(order) // 2 - batch // 2))
    return order[mid : mid + batch]


def measure_backend_flops(spec: dict) -> dict:
    import numpy as np

    from kashif.model.backends import make_backend
    from kashif.model.loading import load_model
    from kashif.model.text import normalize_word

    loaded = load_model(spec["model"], task="ner")
    backend = make_backend(loaded, spec["backend"], spec["precision"], "cpu", spec["threads"])
    tok = loaded.tokenizer
    words = [[normalize_word(w, loaded.metadata.normalization) or "[UNK]" for w in s] for s in spec["tokens"]]
    ids = [[tok.cls_token_id, *x, tok.sep_token_id] for x in tok(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]]
    lengths = [len(x) for x in ids]
    config = loaded.model.config.to_dict()
    uses_types = "token_type_ids" in tok.model_input_names
    # This machine's matmul speed drifts by 2x over minutes (shared host): the limit is
    # measured again in the same process, just before and just after the backend's rows.
    limit_spec = {"sizes": spec["limit_sizes"], "seconds": spec["limit_seconds"], "precisions": sorted({"fp32", MATCHED_LIMIT[spec["precision"]]})}
    before = measure_matmul(limit_spec)
    rows = []
    for batch in spec["batch_sizes"]:
        chosen = _median_batch(lengths, batch)
        width = max(lengths[i] for i in chosen)
        input_ids = np.full((len(chosen), width), tok.pad_token_id, dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for r, i in enumerate(chosen):
            input_ids[r, : lengths[i]] = ids[i]
            mask[r, : lengths[i]] = 1
        inputs = {"input_ids": input_ids, "attention_mask": mask}
        if uses_types:
            inputs["token_type_ids"] = np.zeros_like(input_ids)
        backend(inputs)
        calls, spent, best = 0, 0.0, float("inf")
        while spent < spec["seconds"] or calls < 2:
            t0 = time.perf_counter()
            backend(inputs)
            dt = time.perf_counter() - t0
            best, spent, calls = min(best, dt), spent + dt, calls + 1
        flops = len(chosen) * flops_per_sequence(config, width, len(loaded.labels))
        useful = sum(flops_per_sequence(config, lengths[i], len(loaded.labels)) for i in chosen)
        rows.append({"batch": len(chosen), "padded_length": width, "seconds_per_batch": best,
                     "gflops_per_batch": flops / 1e9, "gflop_per_s": flops / best / 1e9,
                     "useful_gflop_per_s": useful / best / 1e9, "sentences_per_s": len(chosen) / best})
    after = measure_matmul(limit_spec)
    window = {k: max(v for v in (before.get(k), after.get(k)) if v is not None) for k in limit_spec["precisions"]
              if before.get(k) is not None or after.get(k) is not None}
    return {"rows": rows, "window_limit_gflop_per_s": window, "limit_before": before, "limit_after": after}


def run(opts: BenchOptions) -> dict:
    from bench.backends import BACKENDS
    from kashif.model.backends.torch_backend import cpu_supports_bf16

    quick = opts.quick
    sizes = LIMIT_SIZES_QUICK if quick else LIMIT_SIZES
    limit = call_in_subprocess("bench.flops:measure_matmul", {"sizes": sizes, "seconds": 0.5 if quick else 1.5}, threads=opts.threads)
    base = base_ner_model(opts)
    ensure_onnx_exports(opts, {"ner": base})
    tokens, _ = anercorp_sentences(opts.anercorp_test)
    backends = [b for b in BACKENDS if b != ("torch", "bf16") or cpu_supports_bf16()]
    rows = []
    for backend, precision in backends:
        spec = {"model": str(base), "backend": backend, "precision": precision, "threads": opts.threads, "tokens": tokens,
                "batch_sizes": list(BATCH_SIZES), "seconds": 1.0 if quick else 4.0,
                "limit_sizes": sizes, "limit_seconds": 0.5 if quick else 1.0}
        try:
            out = call_in_subprocess("bench.flops:measure_backend_flops", spec, threads=opts.threads)
        except WorkerError as err:
            rows.append({"backend": backend, "precision": precision, "error": str(err)})
            continue
        window = out["window_limit_gflop_per_s"]
        fp32, matched = window.get("fp32") or limit.get("fp32"), window.get(MATCHED_LIMIT[precision]) or limit.get(MATCHED_LIMIT[precision])
        for r in out["rows"]:
            r["fraction_of_fp32_limit"] = r["gflop_per_s"] / fp32 if fp32 else None
            r["fraction_of_matched_limit"] = r["gflop_per_s"] / matched if matched else None
        rows.append({"backend": backend, "precision": precision, "rows": out["rows"], "peak_rss_mb": out["peak_rss_mb"],
                     "window_limit_gflop_per_s": window, "limit_before": out["limit_before"], "limit_after": out["limit_after"]})
        print(f"  flops: {backend} {precision} done", flush=True)
    payload = {"matmul_limit_gflop_per_s": {k: v for k, v in limit.items() if k != "peak_rss_mb"},
               "limit_notes": "square matmuls, best over n=%s and repeated runs; int8 = torch._int_mm, a lower bound on what "
                              "VNNI/AMX int8 kernels reach. Fractions use the limit measured in each backend's own process "
                              "just before and after its rows (the best of the two), because this shared machine's matmul "
                              "speed drifts over minutes; this top-level limit is from the start of the section." % "/".join(map(str, sizes)),
               "flop_model": "2·(4·n·h² + 2·n·h·f + 2·n²·h) per layer + head, n = padded length",
               "batch_sizes": list(BATCH_SIZES), "backends": rows}
    write_result(opts, "flops", payload)
    plot(opts, payload)
    return payload


def plot(opts: BenchOptions, payload: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for b in payload["backends"]:
        if "rows" in b:
            ax.plot([r["batch"] for r in b["rows"]], [r["gflop_per_s"] for r in b["rows"]], marker="o", label=f"{b['backend']} {b['precision']}")
    for name, value in payload["matmul_limit_gflop_per_s"].items():
        if isinstance(value, (int, float)):
            ax.axhline(value, linestyle="--", linewidth=0.8, color="#888")
            ax.text(1, value, f" {name} matmul limit", fontsize=7, va="bottom")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (sentences around the median length)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title("BERT-base shape on the CPU", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(opts.results_dir / "flops.png", dpi=110)
    plt.close(fig)
