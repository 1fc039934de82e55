"""One error base for every command: KashifError and its exit code."""
from __future__ import annotations

import pytest

from kashif.model.annotation_formats import AnnotationError
from kashif.model.errors import EXIT_FAILURE, EXIT_USAGE, KashifError
from kashif.model.loading import ModelLoadError, resolve_model_refs


def test_a_kashif_error_is_bad_input_unless_it_says_otherwise():
    class Crash(KashifError):
        exit_code = EXIT_FAILURE

    assert KashifError("x").exit_code == EXIT_USAGE == 2
    assert Crash("x").exit_code == EXIT_FAILURE == 1


def test_the_library_errors_are_kashif_errors_and_keep_their_old_bases(tmp_path):
    with pytest.raises(KashifError) as raised:
        resolve_model_refs(model=str(tmp_path / "missing"))
    assert isinstance(raised.value, ModelLoadError) and raised.value.exit_code == EXIT_USAGE
    assert issubclass(AnnotationError, KashifError) and issubclass(AnnotationError, ValueError)
