"""What every benchmark section shares: options, data, the BERT-base test model,
measurements in a fresh subprocess (for a clean peak RSS), machine facts."""
from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
BUNDLED_DIR = REPO / "model" / "bundled"
RESULTS_DIR = BENCH_DIR / "results"
# the shared corpora (read-only, never copied into the project): KASHIF_DATA_DIR, else ../shared/data beside the checkout
DATA_DIR = os.environ.get("KASHIF_DATA_DIR") or str(REPO.parent / "shared" / "data")
QUICK_NOTE = "quick/smoke run: small slices and short durations; not the figures to quote"

# CAMeLBERT's shape (bert-base-arabic-camelbert-*): what the project would fine-tune on a GPU.
BASE_SHAPE = {"vocab_size": 30000, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
              "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2}
NER_LABELS = ["O", "B-PERS", "I-PERS", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


@dataclass
class BenchOptions:
    data_dir: Path
    results_dir: Path = RESULTS_DIR
    cache_dir: Path = Path(os.environ.get("KASHIF_BENCH_CACHE", Path(tempfile.gettempdir()) / "kashif-bench"))
    quick: bool = False
    threads: int = 2
    command: str = ""
    started: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    extra: dict = field(default_factory=dict)  # per-section overrides, e.g. {"sentences": 64}

    @property
    def anercorp_test(self) -> Path:
        return self.data_dir / "ner" / "anercorp" / "test.txt"

    @property
    def anercorp_train(self) -> Path:
        return self.data_dir / "ner" / "anercorp" / "train.txt"

    @property
    def ans_test(self) -> Path:
        return self.data_dir / "stance" / "ans" / "stance" / "test.csv"

    def meta(self) -> dict:
        return {"quick": self.quick, "threads": self.threads, "command": self.command, "date": self.started,
                "commit": git_commit(), "note": QUICK_NOTE if self.quick else None}


# ---- data -------------------------------------------------------------------
def anercorp_sentences(path: Path, limit: int | None = None) -> tuple[list[list[str]], list[list[str]]]:
    """(tokens, gold tags) per sentence; with `limit`, an evenly spaced subsample
    so that the length distribution stays that of the whole file."""
    from kashif.training.data import load_ner

    data = load_ner(path)
    tokens, tags = data["tokens"], data["tags"]
    idx = spread(len(tokens), limit)
    return [tokens[i] for i in idx], [tags[i] for i in idx]


def spread(n: int, limit: int | None) -> list[int]:
    if not limit or limit >= n:
        return list(range(n))
    return sorted({round(i * (n - 1) / max(limit - 1, 1)) for i in range(limit)})


def bundled(opts: BenchOptions, task: str) -> Path | None:
    """The bundled model's directory for `task` (or that of `--bundle`), None when absent."""
    path = Path(opts.extra.get("bundle") or BUNDLED_DIR) / task
    return path if (path / "config.json").is_file() else None


def compared(opts: BenchOptions, task: str) -> Path | None:
    """The `--compare-bundle` model for `task` (e.g. the previous bundled model), None when not given."""
    root = opts.extra.get("compare_bundle")
    path = Path(root) / task if root else None
    return path if path and (path / "config.json").is_file() else None


# ---- the BERT-base-shaped model ----------------------------------------------
def base_ner_model(opts: BenchOptions) -> Path:
    """A random-init BertForTokenClassification of CAMeLBERT's shape with a WordPiece
    tokenizer trained on ANERcorp train, built once into the cache directory."""
    target = opts.cache_dir / "base-ner-camelbert-shape-v1"
    if (target / "kashif.json").is_file():
        return target
    call_in_subprocess("bench.common:_build_base_ner", {"target": str(target), "train": str(opts.anercorp_train)},
                       threads=opts.threads, timeout=900)
    return target


def _build_base_ner(spec: dict) -> dict:
    import torch
    from transformers import BertConfig, BertForTokenClassification

    from kashif.model.metadata import ModelMetadata
    from kashif.model.text import Normalization, normalize_word
    from kashif.training.data import load_ner
    from kashif.training.tokenizer import train_wordpiece

    norm = Normalization()
    sentences = load_ner(spec["train"])["tokens"]
    texts = [" ".join(normalize_word(w, norm) for w in tokens) for tokens in sentences]
    tokenizer = train_wordpiece(texts, vocab_size=BASE_SHAPE["vocab_size"], model_max_length=512)
    torch.manual_seed(0)
    shape = dict(BASE_SHAPE, vocab_size=max(BASE_SHAPE["vocab_size"], len(tokenizer)))
    config = BertConfig(**shape, num_labels=len(NER_LABELS), id2label=dict(enumerate(NER_LABELS)),
                        label2id={label: i for i, label in enumerate(NER_LABELS)})
    model = BertForTokenClassification(config).eval()
    target = Path(spec["target"])
    tmp = target.with_name(target.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    ModelMetadata(task="ner", labels=NER_LABELS, normalization=norm, max_length=512,
                  extra={"note": "random weights, CAMeLBERT's shape; for speed only"}).save(tmp)
    os.replace(tmp, target)
    return {"vocab": len(tokenizer)}


def ensure_onnx_exports(opts: "BenchOptions", refs: dict[str, Path | None]) -> None:
    """Export (and quantise) the ONNX graphs in a throw-away process first, so that
    no measured process pays the export in its time or its peak RSS. (The export
    cache of model/backends/onnx_backend.py is keyed by the weights' size and mtime.)"""
    for task, ref in refs.items():
        if ref is not None:
            call_in_subprocess("bench.common:_export_onnx", {"task": task, "ref": str(ref)}, threads=opts.threads, timeout=1800)


def _export_onnx(spec: dict) -> dict:
    from kashif.model.backends.onnx_backend import export_onnx
    from kashif.model.loading import load_model

    loaded = load_model(spec["ref"], task=spec["task"])
    return {precision: str(export_onnx(loaded, precision)) for precision in ("fp32", "int8")}


# ---- measurements in a subprocess --------------------------------------------
class WorkerError(RuntimeError):
    pass


def call_in_subprocess(target: str, spec: dict, threads: int, timeout: float = 1200) -> dict:
    """Run `module:function(spec) -> dict` in a fresh interpreter and return its
    result plus `peak_rss_mb`, the child's own high-water mark."""
    with tempfile.TemporaryDirectory(prefix="kashif-bench-") as tmp:
        spec_file, out_file = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_file.write_text(json.dumps(spec, ensure_ascii=False))
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   OPENBLAS_NUM_THREADS=str(threads), KASHIF_THREADS=str(threads), TOKENIZERS_PARALLELISM="false",
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONWARNINGS="ignore")
        cmd = [sys.executable, "-m", "bench.common", target, str(spec_file), str(out_file), str(threads)]
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env, timeout=timeout, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            raise WorkerError(f"{target} ran past {timeout:.0f} s") from None
        if proc.returncode != 0 or not out_file.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
            raise WorkerError(f"{target} failed (exit {proc.returncode}): " + " | ".join(tail))
        return json.loads(out_file.read_text())


def _worker_main(argv: Sequence[str]) -> int:
    target, spec_file, out_file, threads = argv
    import torch

    torch.set_num_threads(int(threads))
    module, func = target.split(":")
    fn: Callable[[dict], dict] = getattr(importlib.import_module(module), func)
    result = fn(json.loads(Path(spec_file).read_text()))
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    Path(out_file).write_text(json.dumps(result, ensure_ascii=False))
    return 0


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's own peak RSS (this one by default). Not ru_maxrss: Linux carries the
    parent's RSS at fork into the child's ru_maxrss across exec, so every worker would
    read at least the (torch-importing) parent's size. VmHWM belongs to the new address space."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == "self" else float("nan")


def process_tree_peak_rss_mb(pid: int) -> float:
    """Peak RSS of a process plus that of each of its live children (the server's
    inference process): the sum of peaks, an upper bound on the tree's peak."""
    children = [int(c) for task in Path(f"/proc/{pid}/task").glob("*") for c in (task / "children").read_text().split()]
    return peak_rss_mb(pid) + sum(peak_rss_mb(child) for child in children)


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def timed(fn: Callable[[], Any], min_seconds: float = 0.0, max_repeats: int = 1) -> tuple[float, Any]:
    """Best-of wall time of `fn`: repeated while under `min_seconds` total, at most `max_repeats` times."""
    best, result, spent, n = float("inf"), None, 0.0, 0
    while n < max_repeats and (n == 0 or spent < min_seconds):
        t0 = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t0
        best, spent, n = min(best, dt), spent + dt, n + 1
    return best, result


def dir_size_mb(paths: Sequence[Path]) -> float:
    return round(sum(p.stat().st_size for p in paths if p.is_file()) / 2**20, 1)


# ---- machine facts ----------------------------------------------------------
def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "kashif", "model", "serve", "bench", "training"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx512_bf16", "avx512_vnni", "amx", "avx2", "avx512f", "avx_vnni")))
    except OSError:
        pass
    return []


def machine_info() -> dict:
    import onnxruntime
    import torch
    import transformers

    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "transformers": transformers.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "gpu": None,
    }


def write_result(opts: BenchOptions, section: str, payload: dict) -> Path:
    opts.results_dir.mkdir(parents=True, exist_ok=True)
    path = opts.results_dir / f"{section}.json"
    path.write_text(json.dumps({"section": section, "meta": opts.meta(), **payload}, ensure_ascii=False, indent=2) + "\n")
    return path


def as_dict(obj: Any) -> Any:
    return asdict(obj) if hasattr(obj, "__dataclass_fields__") else obj


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
