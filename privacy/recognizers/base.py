"""Shared base for the chat recognizers: Presidio PatternRecognizer plus a context window.

Presidio's own context enhancer works on lemmas and only nudges scores. Chat identifiers such as
an MRN or a member id are just digits; what makes them one or the other is a word shortly before
("mrn", "member id"). So each recognizer lists the patterns that only count with such a word
(CONTEXT_REQUIRED) and the words themselves (CONTEXT); the window check here decides.
"""
from __future__ import annotations

from typing import ClassVar, FrozenSet, List, Optional, Sequence

import regex as re
from presidio_analyzer import AnalysisExplanation, Pattern, PatternRecognizer, RecognizerResult

# Scores: below SCORE_THRESHOLD a result is dropped; a context word lifts a result to CONTEXT_SCORE.
SCORE_THRESHOLD = 0.4
NEEDS_CONTEXT = 0.3
CONTEXT_SCORE = 0.85

UNIT_AFTER = (
    r"(?:mg|mcg|µg|ug|g|kg|ml|l|cc|iu|units?|tabs?|tablets?|pills?|caps?|capsules?|puffs?|"
    r"drops?|lbs?|pounds|oz|%|percent|degrees?|f\b|c\b|bpm|mmhg|steps|calories|cal|miles?|km|mins?|minutes?|hours?|hrs?|x)"
)


class ChatPatternRecognizer(PatternRecognizer):
    ENTITY: ClassVar[str] = ""
    PATTERNS: ClassVar[List[Pattern]] = []
    CONTEXT: ClassVar[List[str]] = []
    CONTEXT_REQUIRED: ClassVar[FrozenSet[str]] = frozenset()  # pattern names needing CONTEXT
    CONTEXT_WINDOW: ClassVar[int] = 45  # characters before the match searched for CONTEXT
    FLAGS: ClassVar[int] = re.IGNORECASE | re.MULTILINE

    def __init__(self, patterns: Optional[Sequence[Pattern]] = None):
        patterns = [Pattern(p.name, p.regex, p.score) for p in (patterns or self.PATTERNS)]
        super().__init__(
            supported_entity=self.ENTITY,
            name=type(self).__name__,
            patterns=patterns,
            context=list(self.CONTEXT),
            supported_language="en",
            global_regex_flags=self.FLAGS,
        )
        words = sorted(self.CONTEXT, key=len, reverse=True)
        self._context_re = (
            re.compile(r"(?<![\w])(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words) + r")(?![a-z])", re.I)
            if words
            else None
        )
        self._pattern_by_regex = {p.regex: p.name for p in patterns}

    def has_context(self, text: str, start: int) -> bool:
        if self._context_re is None:
            return False
        window = text[max(0, start - self.CONTEXT_WINDOW) : start]
        # A cue belongs to the nearest value: "mrn 4471823 and phone 5125550143" must not make the
        # phone an MRN, so the window stops at the last digit before this match.
        last_digit = max(window.rfind(d) for d in "0123456789")
        if last_digit >= 0:
            window = window[last_digit + 1 :]
        return self._context_re.search(window) is not None

    def accept(self, text: str, start: int, end: int) -> bool:
        """Last word on a match (e.g. not the practice's own phone). Override per recognizer."""
        return True

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None) -> List[RecognizerResult]:
        results: List[RecognizerResult] = []
        for pattern in self.patterns:
            if pattern.compiled_regex is None:
                pattern.compiled_regex = re.compile(pattern.regex, flags=self.FLAGS)
                pattern.compiled_with_flags = self.FLAGS
            needs_context = pattern.name in self.CONTEXT_REQUIRED
            for match in pattern.compiled_regex.finditer(text):
                start, end = match.span()
                if start == end:
                    continue
                value = text[start:end]
                validated = self.validate_result(value)
                if validated is False or self.invalidate_result(value):
                    continue
                score = pattern.score
                if validated:
                    score = 1.0
                if needs_context or score < CONTEXT_SCORE:
                    if self.has_context(text, start):
                        score = max(score, CONTEXT_SCORE)
                    elif needs_context:
                        continue
                if score < SCORE_THRESHOLD or not self.accept(text, start, end):
                    continue
                results.append(
                    RecognizerResult(
                        entity_type=self.ENTITY,
                        start=start,
                        end=end,
                        score=score,
                        analysis_explanation=AnalysisExplanation(self.name, score, pattern_name=pattern.name),
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                            "pattern": pattern.name,
                        },
                    )
                )
        # one span per finding: drop results inside another result of this recognizer
        results.sort(key=lambda r: (r.start, -(r.end - r.start)))
        kept: List[RecognizerResult] = []
        for r in results:
            if kept and r.start >= kept[-1].start and r.end <= kept[-1].end:
                kept[-1].score = max(kept[-1].score, r.score)
                continue
            kept.append(r)
        return kept


def words_re(words: Sequence[str]) -> str:
    """A regex alternation of phrases (spaces match any run of spaces)."""
    return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True)) + ")"


MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
US_STATES = (
    "al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj "
    "nm ny nc nd oh ok or pa ri sc sd tn tx ut vt va wa wv wi wy pr"
).split()
US_STATE_NAMES = [
    "alabama", "alaska", "arizona", "arkansas", "california", "colorado", "connecticut", "delaware",
    "florida", "georgia", "hawaii", "idaho", "illinois", "indiana", "iowa", "kansas", "kentucky",
    "louisiana", "maine", "maryland", "massachusetts", "michigan", "minnesota", "mississippi",
    "missouri", "montana", "nebraska", "nevada", "new hampshire", "new jersey", "new mexico",
    "new york", "north carolina", "north dakota", "ohio", "oklahoma", "oregon", "pennsylvania",
    "rhode island", "south carolina", "south dakota", "tennessee", "texas", "utah", "vermont",
    "virginia", "washington", "west virginia", "wisconsin", "wyoming",
]
