"""spaCy NER people, minus what the small model mistakes for people (drug names, greetings)."""
from __future__ import annotations

from typing import List

from presidio_analyzer import RecognizerResult
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from privacy import wordlists


class SpacyPersonRecognizer(SpacyRecognizer):
    ENTITIES = ["PERSON"]

    def __init__(self):
        super().__init__(supported_entities=["PERSON"], supported_language="en", ner_strength=0.85)
        self.name = "SpacyPersonRecognizer"

    def analyze(self, text, entities, nlp_artifacts=None) -> List[RecognizerResult]:
        results = super().analyze(text, ["PERSON"], nlp_artifacts)
        not_name = wordlists.not_a_name()
        clinical = wordlists.clinical_terms()
        kept = []
        for r in results:
            while r.end > r.start and not text[r.end - 1].isalnum():
                r.end -= 1
            while r.start < r.end and not text[r.start].isalnum():
                r.start += 1
            words = [w.strip(".,'’:;!?").lower() for w in text[r.start : r.end].split()]
            words = [w for w in words if w]
            if not words or all(w in not_name for w in words):
                continue
            # a name never holds a digit or a drug name: "refill lisinopril 2" is not a person
            if any(w in clinical or any(c.isdigit() for c in w) for w in words):
                continue
            kept.append(r)
        return kept
