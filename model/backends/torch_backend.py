"""PyTorch backend: fp32, bf16 weights, or dynamic int8 quantisation of Linear layers."""
from __future__ import annotations

import os

import numpy as np
import torch

from kashif.model.backends import PRECISIONS

CPU_BF16_ENV = "KASHIF_CPU_BF16"  # 0/1: overrides the check below, e.g. to emulate a CPU without bf16


def cpu_supports_bf16() -> bool:
    """True where the CPU computes bf16 natively (AVX512-BF16 or AMX); oneDNN also
    emulates bf16 on plain AVX-512, but slower than fp32. `KASHIF_CPU_BF16=0|1` overrides."""
    override = os.environ.get(CPU_BF16_ENV, "").strip()
    if override:
        from kashif.model.settings import parse_bool

        try:
            return parse_bool(override)
        except ValueError as err:
            raise ValueError(f"{CPU_BF16_ENV}: {err}") from None
    try:
        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return False
    except (AttributeError, RuntimeError):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            flags = next((line for line in info if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class TorchBackend:
    name = "torch"
    reason = ""  # why it runs the model: set by make_backend (selection.Choice.reason)

    def __init__(self, model: torch.nn.Module, precision: str = "fp32", device: str = "cpu") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device 'cuda' asked for, but torch sees no CUDA device")
        if precision == "int8":
            if device != "cpu":
                raise ValueError("int8 (dynamic quantisation) runs on the CPU only")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        elif precision == "bf16":
            # Weights cast once: autocast would re-cast every Linear weight on every call.
            model = model.to(torch.bfloat16)
        self.model = model.to(device).eval()
        self.precision = precision
        self.device = torch.device(device)

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        tensors = {k: torch.from_numpy(v).to(self.device) for k, v in inputs.items()}
        with torch.inference_mode():
            logits = self.model(**tensors).logits
        return logits.float().cpu().numpy()
