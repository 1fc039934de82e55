"""Evaluation metrics shared by fine-tuning (dev scores) and `kashif evaluate`.

NER: seqeval entity-level scores in its default (CoNLL, not strict) mode, as
the CAMeLBERT and AraBERT papers report them. Stance: accuracy, macro-F1,
per-class precision/recall/F1 and a confusion matrix.
"""
from __future__ import annotations

from typing import Sequence

from seqeval.metrics import classification_report


def _prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def ner_metrics(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> dict:
    """Entity-level P/R/F1 per type, micro and macro, plus token accuracy.

    Keys: precision, recall, f1 (micro), macro_precision, macro_recall,
    macro_f1, accuracy (token level), per_type {type: {precision, recall, f1,
    support}}, support (gold entities), confusion {labels, matrix} over
    token types (O and entity types, rows = gold).
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} gold sentences but {len(y_pred)} predicted")
    for i, (t, p) in enumerate(zip(y_true, y_pred)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} gold tags but {len(p)} predicted")
    y_true = [list(t) for t in y_true]
    y_pred = [list(p) for p in y_pred]
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    per_type = {
        name: {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for name, row in report.items()
        if not name.endswith(" avg")
    }
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
    macro = report.get("macro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    tokens = sum(len(t) for t in y_true)
    correct = sum(a == b for t, p in zip(y_true, y_pred) for a, b in zip(t, p))
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "macro_precision": float(macro["precision"]),
        "macro_recall": float(macro["recall"]),
        "macro_f1": float(macro["f1-score"]),
        "accuracy": correct / tokens if tokens else 0.0,
        "support": int(micro["support"]),
        "per_type": per_type,
        "confusion": token_type_confusion(y_true, y_pred),
    }


def _tag_type(tag: str) -> str:
    return tag[2:] if len(tag) > 2 and tag[1] in "-_" else tag


def token_type_confusion(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> dict:
    """Token-level confusion between entity types (B-/I- merged; O included)."""
    types = sorted({_tag_type(t) for seq in list(y_true) + list(y_pred) for t in seq} - {"O"})
    labels = ["O"] + types
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t_seq, p_seq in zip(y_true, y_pred):
        for t, p in zip(t_seq, p_seq):
            matrix[index[_tag_type(t)]][index[_tag_type(p)]] += 1
    return {"labels": labels, "matrix": matrix}


# The two classes that take a side; their mean F1 is the topic-stance score of
# SemEval-2016 and StanceEval 2024 ("F1 of favour and against").
POLAR_LABELS = ("agree", "disagree")
MAX_TARGETS_BROKEN_DOWN = 20


def stance_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str] | None = None,
    targets: Sequence[str | None] | None = None,
) -> dict:
    """Accuracy, macro P/R/F1 (over `labels`, default: every label seen), per-class
    P/R/F1/support and the confusion matrix (rows = gold, columns = predicted).
    Where the label set has agree and disagree, `f1_agree_disagree` is their mean F1.
    With `targets` and at most 20 distinct ones (topics, not claims), `by_target`
    repeats the scores for each target, and `f1_agree_disagree_by_target` averages
    them over targets (StanceEval's way)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} gold labels but {len(y_pred)} predicted")
    given = list(labels) if labels is not None else sorted(set(y_true) | set(y_pred))
    labels = given + sorted((set(y_true) | set(y_pred)) - set(given))
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(y_true, y_pred):
        matrix[index[t]][index[p]] += 1
    per_class = {}
    for label, i in index.items():
        tp = matrix[i][i]
        n_pred = sum(row[i] for row in matrix)
        n_true = sum(matrix[i])
        precision, recall, f1 = _prf(tp, n_pred, n_true)
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": n_true}
    n = len(y_true)
    k = len(labels) or 1
    result = {
        "accuracy": sum(matrix[i][i] for i in range(len(labels))) / n if n else 0.0,
        "macro_precision": sum(c["precision"] for c in per_class.values()) / k,
        "macro_recall": sum(c["recall"] for c in per_class.values()) / k,
        "macro_f1": sum(c["f1"] for c in per_class.values()) / k,
        "support": n,
        "per_class": per_class,
        "confusion": {"labels": labels, "matrix": matrix},
    }
    if all(label in per_class for label in POLAR_LABELS):
        result["f1_agree_disagree"] = sum(per_class[label]["f1"] for label in POLAR_LABELS) / len(POLAR_LABELS)
    distinct = sorted({t for t in targets or () if t is not None})
    if targets is not None and 1 < len(distinct) <= MAX_TARGETS_BROKEN_DOWN:
        by_target = {}
        for target in distinct:
            pairs = [(t, p) for t, p, g in zip(y_true, y_pred, targets) if g == target]
            scores = stance_metrics([t for t, _ in pairs], [p for _, p in pairs], given)
            scores.pop("confusion")
            by_target[target] = scores
        result["by_target"] = by_target
        if "f1_agree_disagree" in result:
            result["f1_agree_disagree_by_target"] = sum(s["f1_agree_disagree"] for s in by_target.values()) / len(by_target)
    return result


def format_ner_table(metrics: dict) -> str:
    rows = [(name, m["precision"], m["recall"], m["f1"], m["support"]) for name, m in sorted(metrics["per_type"].items())]
    rows.append(("micro avg", metrics["precision"], metrics["recall"], metrics["f1"], metrics["support"]))
    rows.append(("macro avg", metrics["macro_precision"], metrics["macro_recall"], metrics["macro_f1"], metrics["support"]))
    return _table(rows, "type")


def format_stance_table(metrics: dict) -> str:
    rows = [(name, m["precision"], m["recall"], m["f1"], m["support"]) for name, m in metrics["per_class"].items()]
    rows.append(("macro avg", metrics["macro_precision"], metrics["macro_recall"], metrics["macro_f1"], metrics["support"]))
    table = _table(rows, "label")
    labels = metrics["confusion"]["labels"]
    width = max([len(x) for x in labels] + [9])
    lines = [table, "", f"accuracy {metrics['accuracy']:.4f}"]
    if "f1_agree_disagree" in metrics:
        lines.append(f"F1 of agree and disagree (favour/against) {metrics['f1_agree_disagree']:.4f}")
    for target, scores in metrics.get("by_target", {}).items():
        polar = f" · F1 agree/disagree {scores['f1_agree_disagree']:.4f}" if "f1_agree_disagree" in scores else ""
        lines.append(f"  target {target}: {scores['support']} examples · accuracy {scores['accuracy']:.4f} · "
                     f"macro F1 {scores['macro_f1']:.4f}{polar}")
    if "f1_agree_disagree_by_target" in metrics:
        lines.append(f"F1 of agree and disagree, averaged over targets {metrics['f1_agree_disagree_by_target']:.4f}")
    lines += ["", "confusion (rows: gold, columns: predicted)"]
    lines.append(" " * width + " " + " ".join(f"{x:>{width}}" for x in labels))
    for label, row in zip(labels, metrics["confusion"]["matrix"]):
        lines.append(f"{label:>{width}} " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def _table(rows: list[tuple], first: str) -> str:
    width = max([len(str(r[0])) for r in rows] + [len(first)])
    lines = [f"{first:<{width}}  precision  recall      f1  support"]
    for name, p, r, f, s in rows:
        lines.append(f"{name:<{width}}  {p:9.4f}  {r:6.4f}  {f:6.4f}  {s:7d}")
    return "\n".join(lines)


def keep_types(tags: Sequence[str], types: Sequence[str]) -> list[str]:
    """The tags with every entity type outside `types` set to O (to score a subset of types)."""
    return [t if t != "O" and t[2:] in types else "O" for t in tags]
