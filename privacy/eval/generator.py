"""Generate patient-chat messages with gold PHI spans from a template file.

Styles: "web" (as written), "sms" (lower case, no punctuation), "caps" (ALL CAPS), and typos in
the template's own words (never inside an identifier, so gold spans stay exact).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Tuple

import regex as re
import yaml

from privacy.eval.values import ValueMaker

HERE = Path(__file__).parent
TUNE_TEMPLATES = HERE / "templates_tune.yml"
TEST_TEMPLATES = HERE / "templates_test.yml"

# placeholder -> (ValueMaker method, gold type or None for a non-PHI filler)
SLOTS = {
    "NAME": ("name", "NAME"), "FIRST": ("first", "NAME"), "LAST": ("last", "NAME"),
    "DOB": ("dob", "DOB"), "DATE": ("date", "DATE"), "PHONE": ("phone", "PHONE"),
    "EMAIL": ("email", "EMAIL"), "SSN": ("ssn", "SSN"), "MRN": ("mrn", "MRN"),
    "MEMBER_ID": ("member_id", "MEMBER_ID"), "ACCOUNT": ("account", "ACCOUNT"), "NPI": ("npi", "NPI"),
    "DEA": ("dea", "DEA"), "LICENSE": ("license", "LICENSE"), "ADDRESS": ("address", "ADDRESS"),
    "ZIP": ("zip", "ZIP"), "AGE_OLD": ("age_old", "AGE"), "URL": ("url", "URL"), "IP": ("ip", "IP"),
    "MED": ("med", None), "DOSE": ("dose", None), "BP": ("bp", None), "YEAR": ("year", None),
    "AGE_YOUNG": ("age_young", None), "WEEKDAY": ("weekday", None), "RELDATE": ("reldate", None),
    "SYMPTOM": ("symptom", None), "NUM": ("num", None), "PAIN": ("pain", None),
    "PRACTICE": (None, None), "PRACTICE_PHONE": (None, None),
}
PLACEHOLDER = re.compile(r"\{([A-Z_]+)\}")


@dataclass
class Message:
    text: str
    spans: List[Tuple[str, int, int]] = field(default_factory=list)  # (gold type, start, end)
    template: str = ""
    style: str = ""


def load_templates(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {"phi": list(data.get("phi", [])), "clean": list(data.get("clean", []))}


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(["swap", "drop", "double"])
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _literal(text: str, style: str, rng: random.Random, typos: bool) -> str:
    if typos:
        text = re.sub(r"[A-Za-z]+", lambda m: _typo(m.group(), rng) if rng.random() < 0.15 else m.group(), text)
    if style == "sms":
        text = re.sub(r"[.,!?;:'’]", "", text.lower())
    elif style == "caps":
        text = text.upper()
    return text


def _value(value: str, kind: str | None, style: str, rng: random.Random) -> str:
    if style == "caps":
        return value.upper()
    if style == "sms" and kind in ("NAME", "ADDRESS", "EMAIL", "DATE", "DOB", "MEMBER_ID") and rng.random() < 0.85:
        return value.lower()
    return value


def render(template: str, maker: ValueMaker, rng: random.Random, style: str, typos: bool, practice: dict) -> Message:
    out, spans, pos = [], [], 0
    for m in PLACEHOLDER.finditer(template):
        lit = _literal(template[pos : m.start()], style, rng, typos)
        out.append(lit)
        method, kind = SLOTS[m.group(1)]
        if method is None:
            raw = practice[m.group(1)]
        else:
            raw = getattr(maker, method)()
        value = _value(raw, kind, style, rng)
        start = sum(len(s) for s in out)
        out.append(value)
        if kind:
            spans.append((kind, start, start + len(value)))
        pos = m.end()
    out.append(_literal(template[pos:], style, rng, typos))
    return Message("".join(out), spans, template, style + ("+typos" if typos else ""))


def generate(path: Path, n: int, seed: int, practice: dict, clean_share: float = 0.25) -> List[Message]:
    templates = load_templates(path)
    rng = random.Random(seed)
    maker = ValueMaker(seed)
    messages = []
    for i in range(n):
        pool = templates["clean"] if rng.random() < clean_share else templates["phi"]
        template = pool[i % len(pool)] if i < len(pool) * 2 else rng.choice(pool)
        style = rng.choices(["web", "sms", "caps"], weights=[45, 48, 7])[0]
        typos = rng.random() < 0.3
        messages.append(render(template, maker, rng, style, typos, practice))
    return messages
