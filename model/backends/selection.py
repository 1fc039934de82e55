"""Which backend and precision run a model, and why: `auto` is the fastest path that keeps the model's answers.

On a CPU (the rule, in order):
1. bf16 weights (torch) where the CPU computes bf16 natively (`cpu_supports_bf16`; `KASHIF_CPU_BF16=0|1` overrides);
2. else static int8 (ONNX Runtime) where the model's int8 export passed its check against fp32
   (`model/backends/int8.py`, `model.int8.check.json` next to the export);
3. else fp32 on ONNX Runtime (the fused graph: 1.09-1.32x torch fp32 on the bundled NER model over the runs in
   bench/results/backends.json and its history), or torch fp32 where onnxruntime is not installed.
A backend or precision named explicitly is used as named. On CUDA, `auto` is torch bf16.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

AUTO = "auto"


@dataclass(frozen=True)
class Choice:
    backend: str  # "torch" or "onnx"
    precision: str  # "fp32", "bf16" or "int8"
    reason: str  # one line, shown by `kashif serve` and /v1/models


def onnx_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def choose(loaded, backend: str = AUTO, precision: str = AUTO, device: str = "cpu") -> Choice:
    """The path for `loaded` given the asked backend and precision (either may be `auto`)."""
    if backend != AUTO and precision != AUTO:
        return Choice(backend, precision, "asked for")
    if precision != AUTO:  # only the backend is left to choose
        on_onnx = precision == "int8" and onnx_available() and not device.startswith("cuda")
        return Choice("onnx" if on_onnx else "torch", precision, f"{precision} asked for")
    if device.startswith("cuda"):
        return Choice("torch" if backend == AUTO else backend, "bf16" if backend != "onnx" else "fp32", "CUDA device")
    from kashif.model.backends.torch_backend import cpu_supports_bf16

    if backend in (AUTO, "torch") and cpu_supports_bf16():
        return Choice("torch", "bf16", "the CPU computes bf16 natively")
    no_bf16 = "no native bf16 on this CPU" if backend == AUTO else f"{backend} backend asked for"
    if backend == "torch":
        return Choice("torch", "fp32", f"{no_bf16}, no native bf16 on this CPU; torch has no checked int8 path")
    if not onnx_available():
        return Choice("torch", "fp32", f"{no_bf16}; onnxruntime is not installed (pip install 'kashif[onnx]')")
    from kashif.model.backends.onnx_backend import int8_export

    _, check = int8_export(loaded)
    if check.passed:
        return Choice("onnx", "int8", f"{no_bf16}; static int8 passed its check: {check.summary()}")
    return Choice("onnx", "fp32", f"{no_bf16}; int8 failed its check ({check.summary()}); "
                                  "fused ONNX fp32 is faster than torch fp32")
