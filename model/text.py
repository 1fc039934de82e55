"""Arabic text handling: words and sentences as character spans of the original string.

Nothing here changes the text the user gave: splitting returns `(start, end)`
offsets, and normalisation (`normalize_word`) only produces the string the
model sees for one word, never the offsets reported back.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

Span = tuple[int, int]

ARABIC_DIACRITICS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed\u08d3-\u08ff"
TATWEEL = "\u0640"
# Joiners and marks that may sit inside a word without splitting it.
INWORD_MARKS = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
# Directional marks: never part of a word; they separate like spaces do.
BIDI_MARKS = "\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c"

_DIGIT = r"[0-9\u0660-\u0669\u06f0-\u06f9]"

_WORD_PATTERNS = [
    r"(?:https?://|www\.)[^\s\u200e\u200f]+[^\s\u200e\u200f.,;:!?،؛؟)\]}\"'»]",  # URL
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail
    r"[#@](?:[^\W_]|_|[" + ARABIC_DIACRITICS + TATWEEL + r"])+",  # hashtag / mention
    rf"{_DIGIT}+(?:[.,\u066b\u066c:/]{_DIGIT}+)*%?",  # number, time, date, percent
    r"(?:[^\W\d_]|[" + ARABIC_DIACRITICS + TATWEEL + INWORD_MARKS + r"])+",  # letters
]

_TOKEN_PATTERN = "|".join(f"(?:{p})" for p in _WORD_PATTERNS)
_SEPARATOR = re.compile(rf"[\s{BIDI_MARKS}]")

SENTENCE_END = frozenset(".!?؟…۔")
_SENTENCE_TAIL = SENTENCE_END | frozenset("\"'»”’)]}")


# Separators, then the next word if it is one of the patterns above: one regex call per word.
_NEXT_WORD = re.compile(rf"[\s{BIDI_MARKS}]*({_TOKEN_PATTERN})?")


def split_words(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Character spans of the words of `text[start:end]`.

    Letters (with their diacritics, tatweel and joiners), numbers, URLs,
    e-mail addresses, hashtags and mentions are single words; every other
    visible character (punctuation, symbols, emoji) is a word of its own.
    Whitespace, NBSP and bidi marks separate words and belong to none.
    """
    end = len(text) if end is None else end
    spans: list[Span] = []
    i = start
    while i < end:
        m = _NEXT_WORD.match(text, i, end)
        i = m.end()
        if m.group(1):
            spans.append((m.start(1), i))
            continue
        if i >= end:
            break
        j = i + 1
        # Keep emoji modifiers, variation selectors and ZWJ sequences together.
        while j < end and (
            unicodedata.category(text[j]) in ("Mn", "Me", "Sk")
            or text[j] in "\u200d\ufe0f"
            or "\U0001f3fb" <= text[j] <= "\U0001f3ff"
            or (text[j - 1] == "\u200d" and not _SEPARATOR.match(text[j]))
        ):
            j += 1
        spans.append((i, j))
        i = j
    return spans


def sentence_words(text: str) -> list[list[Span]]:
    """The words of each sentence (as `split_words` spans): a sentence ends after
    . ! ? ؟ … (with any run of such marks and closing quotes or brackets that
    follow) or at a line break. One pass over the text."""
    sentences: list[list[Span]] = []
    current: list[Span] = []
    last_end = 0
    pending_close = False
    for s, e in split_words(text):
        token = text[s:e]
        if current and (pending_close and token not in _SENTENCE_TAIL or "\n" in text[last_end:s] or "\r" in text[last_end:s]):
            sentences.append(current)
            current = []
        current.append((s, e))
        pending_close = token in SENTENCE_END or (pending_close and token in _SENTENCE_TAIL)
        last_end = e
    if current:
        sentences.append(current)
    return sentences


def split_sentences(text: str) -> list[Span]:
    """Character spans of the sentences of `sentence_words`."""
    return [(words[0][0], words[-1][1]) for words in sentence_words(text)]


@dataclass(frozen=True)
class Normalization:
    """How a word is rewritten before the model's tokenizer sees it (per model)."""

    remove_diacritics: bool = True
    remove_tatweel: bool = True
    remove_inword_marks: bool = True
    unify_alef: bool = False
    unify_yaa: bool = False
    unify_digits: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Normalization":
        data = data or {}
        known = {k: bool(v) for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


_DIACRITICS_RE = re.compile(f"[{ARABIC_DIACRITICS}]")
_INWORD_RE = re.compile(f"[{INWORD_MARKS}]")
_ALEF_TABLE = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا"})
_YAA_TABLE = str.maketrans({"ى": "ي"})
_DIGIT_TABLE = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def normalize_word(word: str, normalization: Normalization) -> str:
    """The form of `word` the model sees. May return "" (e.g. a lone tatweel)."""
    if normalization.remove_diacritics:
        word = _DIACRITICS_RE.sub("", word)
    if normalization.remove_tatweel:
        word = word.replace(TATWEEL, "")
    if normalization.remove_inword_marks:
        word = _INWORD_RE.sub("", word)
    if normalization.unify_alef:
        word = word.translate(_ALEF_TABLE)
    if normalization.unify_yaa:
        word = word.translate(_YAA_TABLE)
    if normalization.unify_digits:
        word = word.translate(_DIGIT_TABLE)
    return word
