from hypothesis import given, settings
from hypothesis import strategies as st

from kashif.model.text import Normalization, normalize_word, sentence_words, split_sentences, split_words
from tests.support.text_samples import ALPHABET, HARD


def test_hard_cases_words():
    words = [HARD[s:e] for s, e in split_words(HARD)]
    for expected in ["الخميس", "،", "“", "؛", "؟", "مُحَمَّدٌ", "كـــتـــاب", "٣٫٥", "3.5%", "١٢/٠٥/٢٠٢٤",
                     "https://example.com/a?b=1", "#مصر_اليوم", "@user_1", "😀", "👍🏽", "abc", "عربي", "def",
                     "نص\u200cمع\u200dوصل", "سطر", "جديد", "معزول", "Latin", "!"]:
        assert expected in words, expected
    # bidi marks, NBSP and line breaks belong to no word
    assert not any(ch in w for w in words for ch in "\u200e\u200f\u00a0\r\n\u2066\u2069")


def test_hard_cases_sentences():
    sentences = [HARD[s:e] for s, e in split_sentences(HARD)]
    assert sentences[0].endswith("؟")
    assert any(s.startswith("سطر") for s in sentences)
    assert sentences[-1].endswith("too!")


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=80).map("".join))
def test_words_are_ordered_disjoint_and_cover_all_visible_text(text):
    spans = split_words(text)
    prev_end = 0
    for s, e in spans:
        assert prev_end <= s < e <= len(text)
        assert text[prev_end:s].strip(" \t\r\n\u00a0\u200e\u200f\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u202e\u061c\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029") == ""
        prev_end = e
    assert text[prev_end:].strip(" \t\r\n\u00a0\u200e\u200f\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u202e\u061c\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029") == ""


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=80).map("".join))
def test_sentences_partition_the_words(text):
    words = split_words(text)
    in_sentences = [w for s, e in split_sentences(text) for w in split_words(text, s, e)]
    assert in_sentences == words
    # the one-pass form the predictor uses: the same words, grouped by the same sentences
    assert sentence_words(text) == [split_words(text, s, e) for s, e in split_sentences(text)]


def test_normalization_never_changes_offsets():
    text = "مُحَمَّدٌ كـــتـــاب إلى"
    spans = split_words(text)
    norm = Normalization(unify_alef=True, unify_yaa=True)
    assert [normalize_word(text[s:e], norm) for s, e in spans] == ["محمد", "كتاب", "الي"]
    assert [text[s:e] for s, e in spans] == ["مُحَمَّدٌ", "كـــتـــاب", "إلى"]
    assert normalize_word("ـــ", Normalization()) == ""
    assert normalize_word("مُحَمَّد", Normalization(remove_diacritics=False)) == "مُحَمَّد"


def test_normalization_round_trips_through_dict():
    norm = Normalization(unify_alef=True, remove_tatweel=False)
    assert Normalization.from_dict(norm.to_dict()) == norm
    assert Normalization.from_dict({"unknown": True}) == Normalization()
