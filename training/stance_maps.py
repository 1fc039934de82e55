"""Other stance corpora in Kashif's terms: their labels onto agree / disagree / other,
and their topic names onto the Arabic a user would type as the target.

agree = the text supports the claim, or is in favour of the topic; disagree = it
refutes the claim, or is against the topic; other = neither (unrelated, or no
stance taken).
"""
from __future__ import annotations

from kashif.training.tagmaps import parse_mapping

LABEL_PRESETS: dict[str, dict[str, str]] = {
    "mawqif": {"Favor": "agree", "Against": "disagree", "None": "other"},
    # Baly et al. (2018) claim–article pairs.
    "baly": {"agree": "agree", "disagree": "disagree", "discuss": "other", "unrelated": "other"},
}

# Mawqif names its three topics in English. The first phrasing is the canonical
# one (what evaluation asks); training draws among all of them so that the
# model does not bind to one string.
TOPIC_PHRASINGS: dict[str, tuple[str, ...]] = {
    "Covid Vaccine": ("لقاح كورونا", "لقاح كوفيد-19", "التطعيم ضد كورونا", "لقاحات كورونا", "تطعيم كوفيد",
                      "اللقاح ضد فيروس كورونا"),
    "Digital Transformation": ("التحول الرقمي", "الرقمنة", "التحول إلى الخدمات الرقمية",
                               "التحول الرقمي في الخدمات الحكومية", "رقمنة الخدمات", "التحول التقني"),
    "Women empowerment": ("تمكين المرأة", "تمكين النساء", "دعم تمكين المرأة", "حقوق المرأة وتمكينها",
                          "تمكين المرأة السعودية", "تعزيز دور المرأة"),
}

TARGET_PRESETS: dict[str, dict[str, str]] = {
    "mawqif": {topic: phrasings[0] for topic, phrasings in TOPIC_PHRASINGS.items()},
}


def parse_label_map(spec: str | dict | None) -> dict[str, str]:
    """A stance label map: a preset (`mawqif`, `baly`), `FROM=TO` pairs, or a file of them."""
    return parse_mapping(spec, LABEL_PRESETS, "label map")


def parse_target_map(spec: str | dict | None) -> dict[str, str]:
    """A target map (a corpus's topic name → the target text the model is asked): a preset
    (`mawqif`: its English topic names → Arabic), `FROM=TO` pairs, or a file of them."""
    return parse_mapping(spec, TARGET_PRESETS, "target map")
