"""Hard Arabic text shared by the text, predictor and SentencePiece tests."""
from __future__ import annotations

from hypothesis import strategies as st

HARD = (
    "قالت وزارة الخارجية الأميركية الخميس، في بيان، إن “التقدم التدريجي” غير مقبول؛ هل تغيّر شيء؟ "
    "مُحَمَّدٌ كـــتـــاب ٣٫٥٪ 3.5% ١٢/٠٥/٢٠٢٤ https://example.com/a?b=1. #مصر_اليوم @user_1 😀👍🏽 👨\u200d👩\u200d👧 "
    "abc\u200eعربي\u200fdef نص\u200cمع\u200dوصل\r\nسطر\u00a0جديد\u2066معزول\u2069 Latin words, too!"
)

ALPHABET = st.sampled_from(
    list("ابتثجحخدذرسشصضطظعغفقكلمنهويءآأإؤئةى")
    + list("\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0640")
    + list("،؛؟.!?,:;\"'()«»“”-")
    + list("٠١٢٣٤٥٦٧٨٩0123456789abcXYZ")
    + [" ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u200e", "\u200f", "\u200c", "\u200d", "\ufeff", "😀", "👍🏽", "#", "@", "_", "%", "٪", "/"]
)
