"""Mapping corpus tag sets onto one another (e.g. CAraNER's PER onto ANERcorp's PERS).

A tag map renames entity *types*; the BIO prefix is kept. Mapping a type to
`O` drops those entities. `B_X`/`I_X` (underscore BIO) is always normalised
to `B-X`/`I-X` before mapping.
"""
from __future__ import annotations

import json
from pathlib import Path

from kashif.model.errors import KashifError

# Fine-grained NewsFANE/WikiFANE types (Alotaibi & Lee 2014, ACE-style taxonomy)
# onto ANERcorp's four types: persons, organisations, places (GPE, LOC and
# FAC all count as LOC in ANERcorp), and everything else as MISC.
_NEWSFANE_COARSE = {
    "PERS": "Artist Athlete Businessperson Engineer Group Lawyer Other_PER Police Politician "
    "Religious_PER Scientist",
    "ORG": "Commercial Educational Entertainment Government Media Medical-Science Non-Governmental "
    "Religious_ORG Sports",
    "LOC": "Continent County-or-District GPE-Cluster Nation Population-Center State-or-Province "
    "Celestial Land-Region-Natural Water-Body Airport Building-Grounds Path Plant Subarea-Facility",
    "MISC": "Air Land Water Projectile Shooting Book Movie Software Hardware Drug Food",
}

PRESETS: dict[str, dict[str, str]] = {
    # CAraNER: TIT (titles/positions) has no ANERcorp counterpart.
    "caraner": {"PER": "PERS", "MIS": "MISC", "TIT": "O"},
    "newsfane": {fine: coarse for coarse, fines in _NEWSFANE_COARSE.items() for fine in fines.split()},
}


class TagMapError(KashifError, ValueError):
    pass


def parse_tag_map(spec: str | dict | None) -> dict[str, str]:
    """A tag map from a preset name (`caraner`, `newsfane`), `A=B,C=D` pairs,
    a JSON file (object) or a text file with one `A=B` (or `A B`) per line.
    Presets and pairs may be combined: `caraner,TIT=MISC` (later wins)."""
    return parse_mapping(spec, PRESETS, "tag map")


def parse_mapping(spec: str | dict | None, presets: dict[str, dict[str, str]], what: str) -> dict[str, str]:
    """A FROM→TO mapping from preset names, `A=B,C=D` pairs, a JSON object file or a
    text file with one `A=B` (or `A B`) per line; presets and pairs combine, later wins."""
    if spec is None or spec == "" or spec == {}:
        return {}
    if isinstance(spec, dict):
        return {str(k): str(v) for k, v in spec.items()}
    path = Path(spec)
    if path.is_file():
        return _read_tag_map_file(path, what)
    mapping: dict[str, str] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if part in presets:
            mapping.update(presets[part])
        elif "=" in part:
            source, target = (x.strip() for x in part.split("=", 1))
            if not source or not target:
                raise TagMapError(f"{what}: bad pair {part!r} (expected FROM=TO)")
            mapping[source] = target
        else:
            raise TagMapError(
                f"{what}: {part!r} is neither FROM=TO, a file, nor a preset ({', '.join(presets)})"
            )
    return mapping


def _read_tag_map_file(path: Path, what: str) -> dict[str, str]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise TagMapError(f"{path}: invalid JSON: {err}") from err
        if not isinstance(data, dict):
            raise TagMapError(f"{path}: a {what} must be a JSON object")
        return {str(k): str(v) for k, v in data.items()}
    mapping = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("=", 1) if "=" in line else line.split()
        if len(parts) != 2:
            raise TagMapError(f"{path}:{lineno}: expected 'FROM=TO', got {line!r}")
        mapping[parts[0].strip()] = parts[1].strip()
    return mapping


def normalize_tag(tag: str) -> str:
    """`B_PER` → `B-PER`; other tags unchanged."""
    if len(tag) > 2 and tag[1] == "_" and tag[0] in "BIES":
        return f"{tag[0]}-{tag[2:]}"
    return tag


def apply_tag_map(tag: str, mapping: dict[str, str]) -> str:
    """Map one tag: whole-tag entries (`B-PER=B-PERS`) first, then the type."""
    tag = normalize_tag(tag)
    if not mapping:
        return tag
    if tag in mapping:
        return mapping[tag]
    if len(tag) > 2 and tag[1] == "-":
        prefix, kind = tag[0], tag[2:]
        if kind in mapping:
            new = mapping[kind]
            return "O" if new == "O" else f"{prefix}-{new}"
    return tag
