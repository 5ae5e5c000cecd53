"""Medical record numbers. Formats differ per practice: add yours in PRIVACY_CONFIG (mrn_patterns)."""
from __future__ import annotations

from typing import Sequence

from presidio_analyzer import Pattern

from privacy.recognizers.base import NEEDS_CONTEXT, ChatPatternRecognizer

DEFAULT_MRN = r"(?<![\w-])(?:[a-z]{1,3}[-]?)?\d[\d-]{3,11}\d(?![\w]|-\d)"


class MrnRecognizer(ChatPatternRecognizer):
    ENTITY = "MRN"
    PATTERNS = [
        # "MRN4471823", "mrn: 4471823", "MR# 4471823": the label itself makes it an MRN
        Pattern("labelled", r"(?<=\b(?:mrn|mr\s?#|mr\s?no\.?)\s{0,2}[:#-]?\s{0,2})(?:[a-z]{1,3}-?)?\d[\d-]{2,12}\d(?![\w])", 0.9),
        Pattern("after_context", DEFAULT_MRN, NEEDS_CONTEXT),
    ]
    CONTEXT = [
        "mrn", "mr#", "medical record", "record number", "record #", "record no", "record", "chart",
        "chart number", "chart #", "patient id", "patient number", "patient #", "pt id", "hospital number",
    ]
    CONTEXT_REQUIRED = frozenset({"after_context"})

    def __init__(self, extra_patterns: Sequence[str] = (), always_patterns: Sequence[str] = ()):
        patterns = list(self.PATTERNS)
        patterns += [Pattern(f"practice_{i}", p, NEEDS_CONTEXT) for i, p in enumerate(extra_patterns)]
        patterns += [Pattern(f"practice_always_{i}", p, 0.9) for i, p in enumerate(always_patterns)]
        self.CONTEXT_REQUIRED = frozenset({"after_context"} | {f"practice_{i}" for i in range(len(extra_patterns))})
        super().__init__(patterns)
