"""`kashif tune-bias`: tune one stance label's logit offset on dev, into the classifier (training.label_bias)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from kashif.commands._flags import STANCE_COLUMN_FLAGS, add_arguments, from_args, stance_columns_from_args
from kashif.commands._run import first_paragraph, print_json, run_command
from kashif.model.settings import setting
from kashif.training import label_bias
from kashif.training.config import TrainConfig

@dataclass
class TuneBiasOptions:
    model: str = setting(help="a fine-tuned stance model directory (changed in place)")
    label: str = setting(help="the label whose logit gets the offset, e.g. other")
    dev: str = setting(help="dev data (CSV/TSV/JSONL), never test")
    topic_dev: str | None = setting(None, "dev pairs whose targets are topics (same columns): the offset then maximises the "
                                          "mean of --dev's macro-F1 and this file's F1 of agree and disagree over its topics")


def run(argv: list[str]) -> int:
    # OSError: a file that cannot be read or written
    return run_command("tune-bias", lambda: _tune_bias(argv), usage_errors=(OSError,))


def _tune_bias(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kashif tune-bias", description=first_paragraph(label_bias.__doc__))
    add_arguments(parser, TuneBiasOptions)
    add_arguments(parser, TrainConfig, only=STANCE_COLUMN_FLAGS)
    args = parser.parse_args(argv)
    options = from_args(TuneBiasOptions, args)
    report = label_bias.tune_bias_on_file(options.model, options.dev, options.label, stance_columns_from_args(args),
                                          options.topic_dev)
    summary = {"offset": report["offset"], "dev_macro_f1_before": report["dev_before"]["macro_f1"],
               "dev_macro_f1_after": report["dev_after"]["macro_f1"]}
    if options.topic_dev:
        summary |= {"objective": report["objective"], "objective_before": report["objective_before"],
                    "objective_after": report["objective_after"]}
    print_json(summary)
    return 0
