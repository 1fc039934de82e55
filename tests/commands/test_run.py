"""How every `kashif` command fails (kashif/commands/_run.py): one line, `kashif <command>: error: ...`, and an exit code."""
from __future__ import annotations

import pytest

from kashif.commands._run import DEBUG_VARIABLE, EXIT_INTERRUPTED, fail, run_command
from kashif.model.annotation_formats import AnnotationError
from kashif.model.errors import EXIT_FAILURE, EXIT_USAGE, KashifError
from kashif.model.loading import ModelLoadError
from kashif.serve.batch.errors import EngineError, UsageError
from kashif.serve.batch.readers import InputError
from kashif.serve.batch.shards import ResumeConflict
from kashif.training.config import ConfigError
from kashif.training.corpus import CorpusError
from kashif.training.data import DataError
from kashif.training.encoder_import import EncoderImportError
from kashif.training.finetune import TrainError
from kashif.training.label_bias import BiasError
from kashif.training.pretrain import PretrainError
from kashif.training.tagmaps import TagMapError
from kashif.training.tokenizer import TokenizerError
from kashif.training.vocab_fit import VocabFitError


def _raise(err: BaseException):
    def work() -> int:
        raise err

    return work


def test_the_work_s_exit_code_comes_back(capsys):
    assert run_command("entities", lambda: 1) == 1
    assert run_command("entities", lambda: None) == 0
    assert capsys.readouterr().err == ""


def test_a_kashif_error_is_one_line_with_its_exit_code(capsys):
    assert run_command("score", _raise(DataError("train.txt: line 3: no tag\n  (details)"))) == EXIT_USAGE
    assert capsys.readouterr().err == "kashif score: error: train.txt: line 3: no tag\n"
    assert run_command("score", _raise(EngineError("a worker died"))) == EXIT_FAILURE
    assert capsys.readouterr().err == "kashif score: error: a worker died\n"


def test_the_errors_a_command_names_are_usage_errors(capsys):
    assert run_command("serve", _raise(ValueError("port must be positive")), usage_errors=(ValueError,)) == EXIT_USAGE
    assert capsys.readouterr().err == "kashif serve: error: port must be positive\n"


def test_an_unexpected_error_is_one_typed_line_or_with_kashif_debug_its_traceback(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    assert run_command("train", _raise(ValueError("bad\nmore"))) == EXIT_FAILURE
    assert capsys.readouterr().err == f"kashif train: error: ValueError: bad (set {DEBUG_VARIABLE}=1 for the traceback)\n"
    monkeypatch.setenv(DEBUG_VARIABLE, "1")
    with pytest.raises(ValueError, match="bad"):
        run_command("train", _raise(ValueError("bad")))


def test_ctrl_c_says_how_to_go_on_and_exits_130(capsys):
    assert run_command("pretrain", _raise(KeyboardInterrupt()), interrupted="interrupted (continue with --resume)") == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "kashif pretrain: interrupted (continue with --resume)\n"


def test_argparse_exits_pass_through():
    with pytest.raises(SystemExit):
        run_command("evaluate", _raise(SystemExit(2)))


def test_fail_prints_the_line_and_returns_the_code(capsys):
    assert fail("serve", "the models could not be loaded: x", EXIT_FAILURE) == EXIT_FAILURE
    assert capsys.readouterr().err == "kashif serve: error: the models could not be loaded: x\n"


@pytest.mark.parametrize(
    "error, exit_code, also",
    [
        (AnnotationError, EXIT_USAGE, ValueError),
        (ModelLoadError, EXIT_USAGE, None),
        (UsageError, EXIT_USAGE, None),
        (InputError, EXIT_USAGE, None),
        (ResumeConflict, EXIT_USAGE, None),
        (EngineError, EXIT_FAILURE, None),
        (TokenizerError, EXIT_USAGE, ValueError),
        (VocabFitError, EXIT_USAGE, ValueError),
        (ConfigError, EXIT_USAGE, ValueError),
        (PretrainError, EXIT_USAGE, ValueError),
        (DataError, EXIT_USAGE, ValueError),
        (EncoderImportError, EXIT_USAGE, ValueError),
        (BiasError, EXIT_USAGE, ValueError),
        (CorpusError, EXIT_USAGE, ValueError),
        (TrainError, EXIT_USAGE, RuntimeError),
        (TagMapError, EXIT_USAGE, ValueError),
    ],
)
def test_every_command_error_is_a_kashif_error_with_the_exit_code_it_had(error, exit_code, also):
    assert issubclass(error, KashifError) and error.exit_code == exit_code
    assert also is None or issubclass(error, also)  # code that catches it as a ValueError/RuntimeError still does
