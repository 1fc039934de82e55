"""ONNX Runtime backend: the model exported once, graph-fused, optionally int8-quantised (static, checked:
see int8.py).

Exports are cached under `$KASHIF_CACHE_DIR` (default ~/.cache/kashif/onnx), never
inside the model directory (which may be the installed package); the int8 export's
check against fp32 lies beside it (`model.int8.check.json`).
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from kashif.model.backends.int8 import DEFAULT_RECIPE, Int8Check, build_int8, check_path, texts_digest

ONNX_PRECISIONS = ("fp32", "int8")


def _cache_dir(source: str) -> Path:
    """Where the exports of one model version live: keyed by the model's path and
    its weight files' size and mtime, so a retrained model is exported afresh."""
    local = Path(source)
    key = str(local.resolve()) if local.exists() else source
    if local.is_dir():
        for weights in sorted(local.glob("*.safetensors")) + sorted(local.glob("*.bin")):
            stat = weights.stat()
            key += f"|{weights.name}:{stat.st_size}:{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(os.environ.get("KASHIF_CACHE_DIR", Path.home() / ".cache" / "kashif")) / "onnx" / digest


def _atomic_target(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    return Path(tmp)


def _say(message: str) -> None:
    """Progress of a one-off export, on stderr (stdout carries the commands' answers)."""
    print(f"kashif: {message}", file=sys.stderr, flush=True)


def int8_export(loaded) -> tuple[Path, Int8Check]:
    """The static int8 graph and its check against fp32, made (once per model version) where missing."""
    fused = export_onnx(loaded, "fp32")
    target = fused.with_name("model.fused.int8.onnx")
    found = Int8Check.load(check_path(target)) if target.is_file() else None
    if found is not None and (found.recipe != DEFAULT_RECIPE.record() or found.texts != texts_digest()):
        found = None  # made by another Kashif version's recipe or texts: build and check it anew
    if found is None:
        _say(f"building the int8 export of {loaded.source} (once per model version: calibration and a check "
             f"against fp32) in {target.parent}")
        found = build_int8(loaded, fused, target)
        _say(f"int8 export {'passed' if found.passed else 'FAILED'} its check: {found.summary()}")
    return target, found


def export_onnx(loaded, precision: str = "fp32") -> Path:
    """Path of the optimised (and, for int8, quantised) ONNX graph, exporting it if needed."""
    import torch
    import transformers

    from kashif.model.tasks import TOKEN, task_named

    if precision == "int8":
        return int8_export(loaded)[0]
    directory = _cache_dir(loaded.source)
    fused = directory / "model.fused.onnx"
    if fused.is_file():
        return fused
    _say(f"building the ONNX export of {loaded.source} (once per model version) in {directory}")
    head = task_named(loaded.task).head
    auto = getattr(transformers, head.auto_class)
    # Eager attention exports as plain ops that ORT's optimiser fuses; SDPA does not fuse.
    model = auto.from_pretrained(loaded.source, attn_implementation="eager").eval()
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if "token_type_ids" in loaded.tokenizer.model_input_names else [])
    dummy = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch", 1: "sequence"} if head == TOKEN else {0: "batch"}
    raw = _atomic_target(directory / "model.onnx")
    with torch.inference_mode():
        torch.onnx.export(model, dummy, str(raw), input_names=names, output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.config
    optimized = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size)
    tmp = _atomic_target(fused)
    optimized.save_model_to_file(str(tmp))
    os.replace(tmp, fused)
    raw.unlink(missing_ok=True)
    return fused


class OnnxBackend:
    name = "onnx"
    reason = ""  # why it runs the model: set by make_backend (selection.Choice.reason)

    def __init__(self, loaded, precision: str = "fp32", device: str = "cpu", threads: int | None = None,
                 graph: Path | None = None) -> None:
        """`graph`: an ONNX file of `loaded` built elsewhere (a benchmark's int8 variant) instead of the cached export."""
        import onnxruntime as ort

        if precision not in ONNX_PRECISIONS:
            raise ValueError(f"the onnx backend runs {' or '.join(ONNX_PRECISIONS)}, not {precision}")
        path = graph or export_onnx(loaded, precision)
        options = ort.SessionOptions()
        if threads:  # None: ONNX Runtime's default; the predictor's config (KASHIF_THREADS) decides, as for torch
            options.intra_op_num_threads = threads
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.precision = precision
        self.path = path

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {k: v for k, v in inputs.items() if k in self.input_names}
        return self.session.run(["logits"], feed)[0].astype(np.float32, copy=False)
