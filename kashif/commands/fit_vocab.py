"""`kashif fit-vocab`: cut a SentencePiece encoder's vocabulary to a corpus (training.vocab_fit)."""
from __future__ import annotations

from dataclasses import dataclass

from kashif.commands._flags import parse_options
from kashif.commands._run import first_paragraph, print_json, run_command
from kashif.model.settings import reuse, setting
from kashif.training import vocab_fit
from kashif.training.pretrain import PretrainConfig


@dataclass
class FitVocabOptions:
    encoder: str = setting(help="encoder directory with a Unigram tokenizer")
    output: str = setting(help="encoder directory to write")
    corpus: list[str] = setting(help="text/JSONL(.gz)/CoNLL file whose words to keep (repeatable; FORMAT:PATH)", repeat=True)
    text_field: str = reuse(PretrainConfig, "text_field")  # corpora are read as `kashif pretrain` reads them
    max_documents: int | None = reuse(PretrainConfig, "max_documents")
    held_out: list[str] = setting(help="corpus to report pieces per word on, before and after", default_factory=list, repeat=True)


def run(argv: list[str]) -> int:
    # OSError: a file that cannot be read or written
    return run_command("fit-vocab", lambda: _fit_vocab(argv), usage_errors=(OSError,))


def _fit_vocab(argv: list[str]) -> int:
    options, _ = parse_options("fit-vocab", FitVocabOptions, argv, description=first_paragraph(vocab_fit.__doc__))
    print_json(vocab_fit.fit_vocab_to_corpus(options.encoder, options.output, options.corpus, text_field=options.text_field,
                                             max_documents=options.max_documents, held_out=options.held_out))
    return 0
