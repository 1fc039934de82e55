"""Static int8: ONNX Runtime's integer kernels with activation ranges fixed once, checked against fp32.

How an int8 graph is made from the fused fp32 one (`quantize`), on calibration feeds (`Int8Texts.calibration`):

1. SmoothQuant (`smooth`): where it lowers a node's int8 error, activation outliers are divided out of the node's
   input channels and multiplied into its weight rows (an exact rewrite in fp32).
2. `quantize_dynamic` picks the integer kernels (MatMulInteger, QAttention for the fused attention, weights int8
   per output channel), leaving in fp32 the nodes the recipe excludes by name (the classifier and pooler) and those
   whose int8 output error on the calibration activations exceeds its bound (`node_errors`).
3. Each `DynamicQuantizeLinear` (which scales activations per batch, so that a text's labels depended on its
   batch-mates) becomes a `QuantizeLinear` with a fixed scale: the min/max of that activation over the feeds.
4. The result is checked against the fp32 graph on other fixed sentences and pairs (`check`, on
   `Int8Texts.held_out`: text the ranges were not fixed on, as users' text is not) and the agreement is written next
   to the export (`CHECK_FILE`); `auto` uses int8 only where that check passed.

The measurements behind the recipe: bench/results/int8_sensitivity.md.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

CHECK_FILE = "model.int8.check.json"
# The agreement an int8 export needs with fp32 on the held-out check texts to be used by `auto`. NER counts the words
# that either graph puts in an entity; stance, the pairs. Each is set midway between the check agreements of the int8
# variants that lose on dev and of those that keep quality (bench/results/int8_sensitivity.md): the check catches a
# broken export; whether one keeps ΔF1 within 0.3 is for the benchmark on test data to say.
MIN_ENTITY_WORD_AGREEMENT = 0.93
MIN_PAIR_AGREEMENT = 0.99
CALIBRATION_TEXTS = "int8_calibration_texts.txt"  # activation ranges are fixed on these sentences
CHECK_TEXTS = "int8_check_texts.txt"  # and the int8 graph is checked on these: other sentences, all written for Kashif
CALIBRATION_PERCENTILE = 99.99  # for Int8Recipe(ranges="percentile"): the |activation| percentile a range keeps
_MAX_SAMPLES_PER_TENSOR = 1_000_000  # values kept per activation for percentile ranges


@dataclass(frozen=True)
class Int8Recipe:
    """Which nodes run in int8 and how their activation ranges are set.

    `exclude` holds regular expressions matched against ONNX node names (e.g. "classifier", r"layer\\.11/");
    a node that matches one stays fp32."""

    exclude: tuple[str, ...] = ()
    max_node_error: float | None = None  # also keep in fp32 each node whose `node_errors` exceeds this
    smooth_alpha: float | None = None  # SmoothQuant: move activation outliers into the weights (0.5 = halfway)
    per_channel: bool = True
    ranges: str = "minmax"  # or "percentile" (clips at CALIBRATION_PERCENTILE); "dynamic": per batch (comparison only)

    def record(self) -> dict:
        """The recipe as the check file holds it (JSON types), to tell whether a cached export was made by it."""
        return json.loads(json.dumps(asdict(self)))

    def excluded(self, names: Iterable[str]) -> list[str]:
        patterns = [re.compile(p) for p in self.exclude]
        return [n for n in names if any(p.search(n) for p in patterns)]


# The recipe `auto` and `--precision int8` use; bench/results/int8_sensitivity.md holds the measurements behind it.
DEFAULT_RECIPE = Int8Recipe(exclude=(r"classifier", r"pooler"), per_channel=True, ranges="minmax", smooth_alpha=0.5)


@dataclass
class Int8Texts:
    """What the int8 graph is calibrated on or checked with: sentences (NER) and (text, target) pairs (stance)."""

    sentences: list[str]
    pairs: list[tuple[str, str]]

    @classmethod
    def calibration(cls) -> "Int8Texts":
        """The sentences shipped with Kashif that activation ranges are fixed on (and the pairs made of them)."""
        return cls.from_sentences(_bundled_file(CALIBRATION_TEXTS).read_text(encoding="utf-8").splitlines())

    @classmethod
    def held_out(cls) -> "Int8Texts":
        """The sentences shipped with Kashif that an int8 export is checked on: none of them is calibrated on."""
        return cls.from_sentences(_bundled_file(CHECK_TEXTS).read_text(encoding="utf-8").splitlines())

    @classmethod
    def from_sentences(cls, lines: Iterable[str]) -> "Int8Texts":
        """Sentences, and pairs of them: each sentence with its neighbour as target, and every other one with its
        own first clause (a target it agrees with)."""
        sentences = [line.strip() for line in lines if line.strip()]
        pairs = [(s, sentences[(i + 1) % len(sentences)]) for i, s in enumerate(sentences)]
        pairs += [(s, s.split("،")[0]) for s in sentences[::2]]
        return cls(sentences, pairs)


def _bundled_file(name: str) -> Path:
    return Path(__file__).with_name(name)


def texts_digest() -> str:
    """Of the shipped calibration and check texts: an export made on other texts (an older Kashif's) is rebuilt."""
    digest = hashlib.sha256()
    for name in (CALIBRATION_TEXTS, CHECK_TEXTS):
        digest.update(_bundled_file(name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Int8Check:
    """The int8 export's agreement with fp32, written next to it as `CHECK_FILE`."""

    task: str
    agreement: float  # NER: share of entity words (non-O in either graph) labelled alike; stance: share of pairs
    compared: int  # how many entity words or pairs that share is of
    word_agreement: float | None = None  # NER: over all words (for information)
    min_agreement: float = MIN_ENTITY_WORD_AGREEMENT
    recipe: dict = field(default_factory=dict)
    texts: str = ""  # texts_digest() of the texts it was calibrated and checked on

    @property
    def passed(self) -> bool:
        return self.agreement >= self.min_agreement

    def summary(self) -> str:
        what = "entity-word" if _is_token_task(self.task) else f"{self.task}-label"
        return f"{what} agreement with fp32 {self.agreement:.2%} of {self.compared} (needs {self.min_agreement:.1%})"

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({**asdict(self), "passed": self.passed}, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "Int8Check | None":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data.pop("passed", None)
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None


# ---- model inputs ------------------------------------------------------------------
@dataclass
class _Feed:
    inputs: dict[str, np.ndarray]  # one sequence, batch 1
    first_pieces: list[int] | None = None  # NER: the position of each word's first piece


def _feeds(loaded, texts: Int8Texts) -> list[_Feed]:
    """The texts encoded as the predictor encodes them (the model's normalisation, one word at a time for
    NER, target first for stance), one sequence per feed."""
    from kashif.model.encoding import encode_stance_pairs, encode_words
    from kashif.model.tasks import PAIR, TOKEN, task_named
    from kashif.model.text import sentence_words

    tokenizer, normalization, limit = loaded.tokenizer, loaded.metadata.normalization, loaded.metadata.max_length
    with_types = "token_type_ids" in tokenizer.model_input_names
    feeds: list[_Feed] = []
    task = task_named(loaded.task)
    if task.head == TOKEN:
        for text in texts.sentences:
            for words in sentence_words(text):
                ids, first = [], []  # the sentence's pieces, and where each word that fits begins (after [CLS])
                for pieces in encode_words(tokenizer, [text[s:e] for s, e in words], normalization):
                    if len(ids) >= limit - 2:
                        break
                    if pieces:
                        first.append(len(ids) + 1)
                        ids.extend(pieces)
                ids = [tokenizer.cls_token_id, *ids[: limit - 2], tokenizer.sep_token_id]
                feeds.append(_Feed(_arrays(ids, None, with_types), first))
        return feeds
    targets = [g for _, g in texts.pairs] if task.inputs == PAIR else None  # a single-text task: the texts alone
    encoded = encode_stance_pairs(tokenizer, [t for t, _ in texts.pairs], targets, limit, normalization)
    types = encoded.get("token_type_ids")
    for i, ids in enumerate(encoded["input_ids"]):
        feeds.append(_Feed(_arrays(ids, types[i] if types is not None else None, with_types)))
    return feeds


def _arrays(ids: Sequence[int], type_ids: Sequence[int] | None, with_types: bool) -> dict[str, np.ndarray]:
    out = {"input_ids": np.asarray([ids], dtype=np.int64), "attention_mask": np.ones((1, len(ids)), dtype=np.int64)}
    if with_types:
        out["token_type_ids"] = np.asarray([type_ids if type_ids is not None else [0] * len(ids)], dtype=np.int64)
    return out


def _session(path_or_model, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    source = path_or_model if isinstance(path_or_model, (str, Path)) else path_or_model.SerializeToString()
    return ort.InferenceSession(str(source) if isinstance(source, Path) else source, options, providers=["CPUExecutionProvider"])


def _labels(session, feeds: list[_Feed]) -> list[np.ndarray]:
    names = {i.name for i in session.get_inputs()}
    out = []
    for feed in feeds:
        logits = session.run(["logits"], {k: v for k, v in feed.inputs.items() if k in names})[0][0]
        out.append(logits[feed.first_pieces].argmax(-1) if feed.first_pieces is not None else logits.argmax(-1, keepdims=True))
    return out


# ---- building ------------------------------------------------------------------------
@dataclass
class _Captured:
    """Activations of the fp32 graph over the calibration feeds: range, and a sample of rows (tokens)."""

    low: float = np.inf
    high: float = -np.inf
    rows: list[np.ndarray] = field(default_factory=list)
    kept: int = 0


def _capture(fp32_path: Path, tensors: list[str], feeds: list[_Feed]) -> dict[str, _Captured]:
    import onnx

    model = onnx.load(str(fp32_path))
    known = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=t) for t in tensors if t not in known)
    session = _session(model)
    names = {i.name for i in session.get_inputs()}
    found = {t: _Captured() for t in tensors}
    for feed in feeds:
        values = session.run(tensors, {k: v for k, v in feed.inputs.items() if k in names})
        for t, v in zip(tensors, values):
            seen = found[t]
            seen.low, seen.high = min(seen.low, float(v.min())), max(seen.high, float(v.max()))
            if seen.kept < _MAX_SAMPLES_PER_TENSOR:
                seen.rows.append(v.reshape(-1, v.shape[-1]))
                seen.kept += v.size
    return found


def _range(seen: _Captured, ranges: str) -> tuple[float, float]:
    if ranges == "minmax":
        return seen.low, seen.high
    if ranges != "percentile":
        raise ValueError(f"unknown activation ranges {ranges!r}; use minmax or percentile")
    values = np.concatenate([r.ravel() for r in seen.rows])
    return float(np.percentile(values, 100 - CALIBRATION_PERCENTILE)), float(np.percentile(values, CALIBRATION_PERCENTILE))


def activation_ranges(fp32_path: Path, tensors: list[str], feeds: list[_Feed], ranges: str) -> dict[str, tuple[float, float]]:
    """(low, high) of each named activation of the fp32 graph over the calibration feeds."""
    return {t: _range(seen, ranges) for t, seen in _capture(fp32_path, tensors, feeds).items()}


def _weighted_nodes(model) -> list[tuple[str, str, np.ndarray]]:
    """(node name, activation input, 2-D weight) of each MatMul / fused Attention with a constant weight."""
    from onnx import numpy_helper

    weights = {i.name: i for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type in ("MatMul", "Attention") and len(node.input) > 1 and node.input[1] in weights:
            weight = numpy_helper.to_array(weights[node.input[1]])
            if weight.ndim == 2:
                out.append((node.name, node.input[0], weight))
    return out


def node_errors(fp32_path: Path, feeds: list[_Feed], recipe: Int8Recipe) -> dict[str, float]:
    """Each int8 candidate node's relative output error (Frobenius) on the calibration activations when its input
    takes the recipe's fixed range and its weight int8: the measure `Int8Recipe.max_node_error` bounds."""
    import onnx

    nodes = _weighted_nodes(onnx.load(str(fp32_path)))
    captured = _capture(fp32_path, sorted({x for _, x, _ in nodes}), feeds)
    return {name: _int8_error(np.concatenate(captured[x].rows), weight, _range(captured[x], recipe.ranges), recipe.per_channel)
            for name, x, weight in nodes}


def _int8_error(rows: np.ndarray, weight: np.ndarray, bounds: tuple[float, float], per_channel: bool) -> float:
    """Relative (Frobenius) error of rows @ weight when rows take the fixed range `bounds` in uint8 and the weight
    symmetric int8 (per output channel or per tensor), as ONNX Runtime's kernels compute it."""
    rows = rows.astype(np.float32)
    scale, zero_point = _uint8_scale(*bounds)
    rows_q = (np.clip(np.round(rows / scale) + zero_point, 0, 255) - zero_point) * scale
    w_scale = np.abs(weight).max(axis=0 if per_channel else None) / 127.0
    w_scale = np.where(w_scale == 0, 1.0, w_scale)
    weight_q = np.clip(np.round(weight / w_scale), -127, 127) * w_scale
    exact = rows @ weight
    return float(np.linalg.norm(exact - rows_q @ weight_q) / max(np.linalg.norm(exact), 1e-12))


def smooth(fp32_path: Path, feeds: list[_Feed], recipe: Int8Recipe, target: Path) -> None:
    """SmoothQuant (Xiao et al. 2023): before an int8 candidate node, divide input channel j by
    s_j = max|x_j|^a / max|W_j|^(1-a) (a Mul) and multiply weight row j by it, so that the output is unchanged and
    activation outliers no longer stretch the whole tensor's int8 range. Only where that lowers the node's int8
    error on the calibration activations (it raises it on some FFN outputs). Writes the smoothed fp32 graph."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32_path))
    excluded = set(recipe.excluded(n.name for n in model.graph.node))
    nodes = [n for n in _weighted_nodes(model) if n[0] not in excluded]
    captured = _capture(fp32_path, sorted({x for _, x, _ in nodes}), feeds)
    alpha = recipe.smooth_alpha
    by_name = {n.name: n for n in model.graph.node}
    replaced = set()
    for name, x, weight in nodes:
        rows = np.concatenate(captured[x].rows)
        x_max, w_max = np.abs(rows).max(axis=0), np.abs(weight).max(axis=1)
        scales = np.where((x_max > 0) & (w_max > 0), x_max ** alpha / np.maximum(w_max, 1e-8) ** (1 - alpha), 1.0)
        scales = np.clip(scales, 1e-4, 1e4).astype(np.float32)
        smoothed_rows, smoothed_weight = rows / scales, (weight * scales[:, None]).astype(np.float32)
        plain = _int8_error(rows, weight, _range(captured[x], recipe.ranges), recipe.per_channel)
        bounds = (float(smoothed_rows.min()), float(smoothed_rows.max()))
        if _int8_error(smoothed_rows, smoothed_weight, bounds, recipe.per_channel) >= plain:
            continue
        node = by_name[name]
        inverse, smoothed, weights = f"{name}_smooth_inv", f"{name}_smooth_in", f"{name}_smooth_w"
        model.graph.initializer.extend([numpy_helper.from_array(1.0 / scales, inverse),
                                        numpy_helper.from_array(smoothed_weight, weights)])
        model.graph.node.insert(list(model.graph.node).index(node), helper.make_node("Mul", [x, inverse], [smoothed], name=f"{name}_smooth"))
        replaced.add(node.input[1])
        node.input[0], node.input[1] = smoothed, weights
    used = {i for n in model.graph.node for i in n.input}
    unused = [i for i in model.graph.initializer if i.name in replaced and i.name not in used]
    for initializer in unused:
        model.graph.initializer.remove(initializer)
    onnx.save(model, str(target))


def _uint8_scale(low: float, high: float) -> tuple[np.float32, np.uint8]:
    """DynamicQuantizeLinear's own arithmetic (the range always holds 0), on a fixed range."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / 255.0 or 1.0
    zero_point = np.clip(round(-low / scale), 0, 255)
    return np.float32(scale), np.uint8(zero_point)


def dynamic_inputs(dynamic_path: Path) -> list[str]:
    """The activations that a dynamically quantised graph scales per batch."""
    import onnx

    model = onnx.load(str(dynamic_path))
    return sorted({n.input[0] for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"})


def freeze_activation_scales(dynamic_path: Path, ranges: dict[str, tuple[float, float]], target: Path) -> None:
    """Replace each DynamicQuantizeLinear of `dynamic_path` by a QuantizeLinear with a fixed scale from `ranges`."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(dynamic_path))
    dynamic = [n for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"]
    found = ranges
    for node in dynamic:
        scale, zero_point = _uint8_scale(*found[node.input[0]])
        quantized, scale_name, zero_name = node.output
        model.graph.initializer.extend([numpy_helper.from_array(np.asarray(scale), scale_name),
                                        numpy_helper.from_array(np.asarray(zero_point), zero_name)])
        index = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(index, helper.make_node("QuantizeLinear", [node.input[0], scale_name, zero_name], [quantized],
                                                        name=node.name + "_static"))
    onnx.save(model, str(target))


def quantize(fp32_path: Path, target: Path, feeds: list[_Feed], recipe: Int8Recipe = DEFAULT_RECIPE,
             known_ranges: dict[str, tuple[float, float]] | None = None) -> None:
    """Write the static int8 graph of `fp32_path` (a fused export) to `target`, calibrated on `feeds` (or with
    `known_ranges`, activation → range, measured before with `activation_ranges`)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    smoothed = target.with_name(target.name + ".smoothed.tmp")
    if recipe.smooth_alpha is not None:
        smooth(fp32_path, feeds, recipe, smoothed)
        fp32_path, known_ranges = smoothed, None
    names = [n.name for n in onnx.load(str(fp32_path), load_external_data=False).graph.node]
    excluded = recipe.excluded(names)
    if recipe.max_node_error is not None:
        excluded += [n for n, error in node_errors(fp32_path, feeds, recipe).items() if error > recipe.max_node_error]
    dynamic = target.with_name(target.name + ".dynamic.tmp")
    try:
        quantize_dynamic(str(fp32_path), str(dynamic), weight_type=QuantType.QInt8, per_channel=recipe.per_channel,
                         nodes_to_exclude=excluded,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True})
        if recipe.ranges == "dynamic":  # per batch, as ONNX Runtime ships it: for comparison only
            os.replace(dynamic, target)
            return
        needed = dynamic_inputs(dynamic)
        if known_ranges is None or not set(needed) <= set(known_ranges):
            known_ranges = activation_ranges(fp32_path, needed, feeds, recipe.ranges)
        freeze_activation_scales(dynamic, known_ranges, target)
    finally:
        dynamic.unlink(missing_ok=True)
        smoothed.unlink(missing_ok=True)


def _is_token_task(task: str) -> bool:
    from kashif.model.tasks import TOKEN, task_named

    return task_named(task).head == TOKEN


def min_agreement(task: str) -> float:
    return MIN_ENTITY_WORD_AGREEMENT if _is_token_task(task) else MIN_PAIR_AGREEMENT


def check(fp32_path: Path, int8_path: Path, feeds: list[_Feed], loaded, recipe: Int8Recipe = DEFAULT_RECIPE,
          floor: float | None = None) -> Int8Check:
    """Labels of the int8 graph against the fp32 graph's on the check feeds; `floor` replaces the task's minimum."""
    expected = np.concatenate(_labels(_session(fp32_path), feeds))
    got = np.concatenate(_labels(_session(int8_path), feeds))
    same = expected == got
    floor = min_agreement(loaded.task) if floor is None else floor
    if not _is_token_task(loaded.task):
        return Int8Check(loaded.task, float(same.mean()), len(same), min_agreement=floor, recipe=recipe.record())
    outside = loaded.labels.index("O") if "O" in loaded.labels else -1
    in_entity = (expected != outside) | (got != outside)
    entity_agreement = float(same[in_entity].mean()) if in_entity.any() else 1.0
    return Int8Check(loaded.task, entity_agreement, int(in_entity.sum()), word_agreement=float(same.mean()), min_agreement=floor,
                     recipe=recipe.record())


def build_int8(loaded, fp32_path: Path, target: Path, recipe: Int8Recipe = DEFAULT_RECIPE, floor: float | None = None) -> Int8Check:
    """Quantise on the shipped calibration texts, check against fp32 on the held-out ones (`floor`: another minimum
    agreement than the task's), and write the graph to `target` and its check to `check_path(target)`."""
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    try:
        quantize(fp32_path, tmp, _feeds(loaded, Int8Texts.calibration()), recipe)
        result = check(fp32_path, tmp, _feeds(loaded, Int8Texts.held_out()), loaded, recipe, floor)
        result.texts = texts_digest()
        result.save(check_path(target))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def check_path(int8_path: Path) -> Path:
    return int8_path.with_name(CHECK_FILE)
