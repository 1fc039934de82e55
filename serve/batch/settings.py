"""`kashif score` settings: one dataclass whose fields declare their flag, help text and, where a deployment would set
one, their `KASHIF_SCORE_*` environment variable (model.settings). The model flags are ModelRefs' and PredictorConfig's,
as for every command."""
from __future__ import annotations

from dataclasses import dataclass, field

from kashif.model.predictor import ModelRefs, PredictorConfig
from kashif.model.settings import setting
from kashif.model.tasks import ANSWER_NAMES
from kashif.serve.batch.exports import OUTPUT_FORMATS
from kashif.serve.batch.readers import FORMATS

ENGINES = ("local", "ray")


@dataclass(kw_only=True)
class ScoreSettings(ModelRefs):
    """What to score, where the results go, and how the work is spread; `predictor`: how the models run."""

    predictor: PredictorConfig = field(default_factory=PredictorConfig)

    inputs: list[str] = setting(help=f"input files ({', '.join(FORMATS)}; .gz accepted) or a datasets directory",
                                positional=True, nargs="+", metavar="INPUT")
    output: str = setting(help="output file: .jsonl, .jsonl.gz or .parquet (or any name with --output-format)", short="-o")
    output_format: str | None = setting(
        None, "jsonl or parquet (default: by the output's name), or pre-annotations for an annotation tool: label-studio "
        "(JSON tasks with predictions), prodigy (JSONL), conll (WORD TAG lines); a .gz name compresses",
        env="KASHIF_SCORE_OUTPUT_FORMAT", choices=OUTPUT_FORMATS)
    errors: str | None = setting(None, "where refused rows go (default: OUTPUT.errors.jsonl)")
    format: str | None = setting(None, "input format, when file names do not say it (e.g. a s3:// prefix)",
                                 choices=[f for f in FORMATS if f != "datasets"])
    text_field: str = setting("text", "field holding the document")
    id_field: str | None = setting(None, "field holding the row id (default: the row number, from 0 over all inputs)")
    target_field: str | None = setting(None, "field holding the stance target of each row (a string or a list of strings)")
    target: list[str] = setting(help="stance target asked of every row (repeatable)", default_factory=list, repeat=True)
    tasks: str | None = setting(None, f"comma-separated: {', '.join(ANSWER_NAMES)} (default: every task the model serves)")
    chunk_size: int = setting(256, "rows read, scored and committed together", env="KASHIF_SCORE_CHUNK_SIZE")
    workers: int = setting(1, "scoring processes on this machine, each with its own model and cores/N threads",
                           env="KASHIF_SCORE_WORKERS")
    quiet: bool = setting(False, "no progress bar (the summary line is still printed)", short="-q", show_default=False)
    engine: str = setting("local", "local processes, or a Ray Data pipeline (RAY_ADDRESS picks the cluster)",
                          env="KASHIF_SCORE_ENGINE", choices=ENGINES)
    ray_concurrency: int = setting(1, "Ray: scoring actors (one Predictor each)", env="KASHIF_SCORE_RAY_CONCURRENCY")
    num_cpus: float = setting(1.0, "Ray: CPUs per scoring actor (also its torch threads)", env="KASHIF_SCORE_NUM_CPUS")
    num_gpus: float = setting(0.0, "Ray: GPUs per scoring actor", env="KASHIF_SCORE_NUM_GPUS")
