"""A few hundred short Arabic news-style sentences for building tiny test models."""
from __future__ import annotations

import itertools

from tests.support import REPO

SEEDS_DIR = REPO / "seeds"

PEOPLE = ["محمد علي", "فاطمة الزهراء", "دونالد ترمب", "ماركو روبيو", "خوان رامون", "أحمد شوقي", "سارة خليل", "عمر المختار"]
PLACES = ["القاهرة", "المكسيك", "الرياض", "بيروت", "دمشق", "تونس", "واشنطن", "المغرب"]
ORGS = ["وزارة الخارجية", "الأمم المتحدة", "جامعة الدول العربية", "البنك الدولي", "منظمة الصحة العالمية"]
VERBS = ["زار", "التقى", "أعلن", "قال", "انتقد", "رحب"]


def generated_sentences() -> list[str]:
    out = []
    for person, place, org, verb in itertools.islice(itertools.product(PEOPLE, PLACES, ORGS, VERBS), 0, 960, 3):
        out.append(f"{verb} {person} في {place} يوم الخميس ممثلين عن {org} ، وفق بيان رسمي .")
    return out


def seed_sentences() -> list[str]:
    lines = []
    for path in sorted(SEEDS_DIR.glob("*.txt")):
        lines.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return lines


def all_sentences() -> list[str]:
    return seed_sentences() + generated_sentences()
