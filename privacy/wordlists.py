"""Bundled word lists (see data/build_wordlists.py for where they come from)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import FrozenSet

from spacy.lang.en.stop_words import STOP_WORDS

DATA = Path(__file__).parent / "data"


def _read(name: str) -> FrozenSet[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return frozenset(l.strip().lower() for l in lines if l.strip() and not l.startswith("#"))


@lru_cache(maxsize=None)
def first_names() -> FrozenSet[str]:
    return _read("first_names.txt")


@lru_cache(maxsize=None)
def last_names() -> FrozenSet[str]:
    return _read("last_names.txt")


@lru_cache(maxsize=None)
def clinical_terms() -> FrozenSet[str]:
    return _read("clinical_terms.txt")


@lru_cache(maxsize=None)
def english_words() -> FrozenSet[str]:
    return _read("english_words.txt")


@lru_cache(maxsize=None)
def not_a_name() -> FrozenSet[str]:
    """Words that are never taken for a name without an explicit cue ("my name is ...")."""
    extra = {
        "im", "ive", "id", "ill", "dont", "cant", "wont", "its", "thx", "pls", "plz", "u", "ur",
        "asap", "am", "pm", "dr", "mr", "mrs", "ms", "st", "ave", "rd", "jan", "feb", "mar",
        "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "january", "february",
        "march", "april", "may", "june", "july", "august", "september", "october", "november",
        "december", "need", "want", "book", "cancel", "reschedule", "schedule", "change", "move",
        "question", "help", "call", "text", "number", "phone", "email", "name", "date", "birth",
        "dob", "address", "zip", "member", "policy", "account", "id", "mrn", "chart", "record",
        "patient", "son", "daughter", "wife", "husband", "mom", "dad", "mother", "father",
        "here", "there", "this", "that", "got", "get", "new", "sick", "feel", "feeling", "hurts",
        "still", "again", "since", "ago", "week", "weeks", "month", "months", "year", "years",
        "old", "next", "last", "tues", "thurs", "wed", "fri", "sat", "sun", "mon",
        "good", "great", "fine", "sorry", "urgent", "real", "person", "human", "agent", "staff",
        "bot", "ai", "stop", "start", "forget", "me", "know", "what", "when", "where", "how",
        "refills", "meds", "med", "medication", "medications", "test", "tests", "result",
        "needs", "has", "had", "wants", "got", "gets", "feels", "felt", "said", "says", "called",
        "calls", "took", "takes", "fell", "falls", "missed", "hurt", "keeps", "started", "woke",
        "needed", "wanted", "asked", "tried", "ran", "runs", "ok", "okay", "pls", "thx", "ty",
    }
    return frozenset(STOP_WORDS) | _read("names_that_are_words.txt") | clinical_terms() | extra
