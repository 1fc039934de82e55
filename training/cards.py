"""Model card (README.md) and plots for a fine-tuned model directory."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kashif.model.tasks import PAIR, TOKEN, Task, task_named

PROVENANCE = "PROVENANCE.md"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curve(log_history: list[dict], path: Path, metric: str = "f1") -> Path:
    """Training loss per logged step, dev loss and the dev `metric` per evaluation."""
    plt = _pyplot()
    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h and "step" in h]
    dev_loss = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    dev_metric = [(h["step"], h[f"eval_{metric}"]) for h in log_history if f"eval_{metric}" in h]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train loss", color="tab:blue")
    if dev_loss:
        ax.plot(*zip(*dev_loss), "o-", label="dev loss", color="tab:orange")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if dev_metric:
        ax2 = ax.twinx()
        ax2.plot(*zip(*dev_metric), "s--", label=f"dev {metric}", color="tab:green")
        ax2.set_ylabel(metric)
        ax2.set_ylim(0, 1)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if handles:
        ax.legend(handles, labels, loc="best")
    ax.set_title("training curve")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion(confusion: dict, path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix with the raw counts written in each cell."""
    import numpy as np

    plt = _pyplot()
    labels = confusion["labels"]
    matrix = np.array(confusion["matrix"], dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_title(f"confusion matrix{': ' + title if title else ''}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def find_license(data_path: str) -> str | None:
    """The License section of the PROVENANCE.md nearest above a data file, if any."""
    p = Path(re.sub(r"@-?\d+(?:,\d+)*$", "", data_path))
    for parent in [p, *p.parents][:4]:
        candidate = parent / PROVENANCE if parent.is_dir() else None
        if candidate is not None and candidate.is_file():
            text = candidate.read_text(encoding="utf-8", errors="replace")
            title = text.splitlines()[0].lstrip("# ").strip() if text.strip() else candidate.parent.name
            m = re.search(r"^## Licen[cs]e\s*\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
            body = " ".join(m.group(1).split()) if m else "see " + str(candidate)
            return f"**{title}** — {body}"
    return None


def _metrics_table(metrics: dict[str, dict], task: Task) -> list[str]:
    if task.head == TOKEN:
        head = "| split | precision | recall | micro F1 | macro F1 | entities |"
        rows = [f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['macro_f1']:.4f} | {m['support']} |"
                for name, m in metrics.items()]
    else:
        head = "| split | accuracy | macro F1 | macro precision | macro recall | examples |"
        rows = [f"| {name} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['macro_precision']:.4f} | {m['macro_recall']:.4f} | {m['support']} |"
                for name, m in metrics.items()]
    return [head, "|" + "---|" * (head.count("|") - 1), *rows]


def _per_label_table(metrics: dict, task: Task) -> list[str]:
    key = task.breakdown
    lines = [f"| {_unit(task)} | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, m in metrics[key].items():
        lines.append(f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['support']} |")
    return lines


def _unit(task: Task) -> str:
    """What the per-label table's rows are."""
    return "type" if task.head == TOKEN else "label"


def write_model_card(output: Path, config: Any, labels: list[str], details: dict[str, dict],
                     training_info: dict, record: dict) -> Path:
    task = task_named(config.task)
    name = output.name
    pipeline_task = task.head.pipeline
    lines = [
        "---",
        "language: ar",
        f"pipeline_tag: {pipeline_task}",
        "library_name: transformers",
        "tags: [kashif, arabic]",
        "---",
        "",
        f"# {name}: Arabic {task.description}",
        "",
        f"Fine-tuned by `kashif train {task.name}` from `{config.base_model}`.",
        f"Labels: {', '.join(f'`{x}`' for x in labels)}.",
        "",
        "## Metrics",
        "",
    ]
    if details:
        note = ("seqeval entity-level scores (default, non-strict mode) over the gold words"
                if task.head == TOKEN else "accuracy and macro-averaged scores over the labels")
        lines += [f"{note}; computed at the end of training.", ""]
        lines += _metrics_table({k: v for k, v in details.items()}, task)
        for split, m in details.items():
            lines += ["", f"### {split}: per {_unit(task)}", ""]
            lines += _per_label_table(m, task)
        lines += ["", "![training curve](training_curve.png)", ""]
        lines += ["![confusion matrix](confusion_matrix.png)", ""]
    else:
        lines += ["No dev or test set was given, so there are no scores.", "", "![training curve](training_curve.png)", ""]
    lines += ["## Training data", ""]
    for split, fp in record["data"].items():
        digest = f"sha256 `{fp['sha256']}`" if fp.get("sha256") else "hash unavailable"
        lines.append(f"- {split}: `{fp['path']}` ({digest})")
    if config.dev_split and not config.dev:
        lines.append(f"- dev: {config.dev_split:.0%} of train, seed {config.seed}{'' if task.head == TOKEN else ' (stratified)'}")
    lines.append(f"- examples: train {training_info['train_examples']}, dev {training_info['dev_examples']}, test {training_info['test_examples']}")
    if config.tag_map:
        lines.append(f"- tag map: `{config.tag_map}`")
    licenses = {lic for fp in record["data"].values() if (lic := find_license(fp["path"]))}
    if licenses:
        lines += ["", "Data licences (from the corpora's PROVENANCE.md):", ""]
        lines += [f"- {lic}" for lic in sorted(licenses)]
    eff = record["effective"]
    lines += [
        "",
        "## Training",
        "",
        "| setting | value |",
        "|---|---|",
        f"| epochs / max steps | {config.epochs} / {config.max_steps} |",
        f"| steps done | {training_info['global_step']} (epoch {training_info['epochs_done']}) |",
        f"| learning rate, warmup, weight decay | {config.learning_rate}, {config.warmup}, {config.weight_decay} |",
        f"| batch size (global) | {eff['global_batch_size']} ({config.batch_size} × {config.grad_accum} accumulation × {eff['world_size']} processes) |",
        f"| max length | {eff['max_length']} pieces |",
        f"| bf16 | {eff['bf16']} |",
        f"| seed | {config.seed} |",
        f"| class weights | {config.class_weights} |",
        "",
        "The exact configuration, data hashes and library versions are in `training_config.json`.",
        "",
        "## Use",
        "",
        "```bash",
        f"kashif {task.answer} {task.model_flag} {output} " + ("--target 'الادعاء' 'نص عربي'" if task.inputs == PAIR else "'نص عربي'"),
        "```",
        "",
        "```python",
        "from transformers import pipeline",
        f"pipe = pipeline({pipeline_task!r}, model={str(output)!r})",
        "```",
        "",
        "Plain `transformers` pipelines skip Kashif's word normalisation and long-text windows; "
        "the Kashif `Predictor` applies the settings in `kashif.json`.",
        "",
    ]
    path = output / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
