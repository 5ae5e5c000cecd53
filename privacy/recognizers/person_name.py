"""Patient names the small spaCy model misses: all-lowercase, ALL-CAPS, bare answers.

Census first/last-name lists plus cue phrases ("my name is", "this is", "dr", "my son"). Words that
are both names and everyday English ("will", "hope", "brown") only count after a cue.
"""
from __future__ import annotations

from typing import List, Optional

import regex as re
from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult

from spacy.lang.en.stop_words import STOP_WORDS

from privacy import wordlists

TOKEN = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.-](?=[^\W\d_]))*")
# Cue -> strong (any unknown word may follow) or weak (a listed name must follow).
STRONG_CUES = [
    "my name is", "my names", "my name's", "name is", "name's", "name:", "name -", "names is",
    "first name is", "last name is", "first name", "last name", "surname is", "surname",
    "call me", "named", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "dr", "dr.", "doctor",
    "patient name", "patient name is", "pt name", "full name", "full name is",
]
WEAK_CUES = [
    "this is", "it's", "its", "it is", "thanks", "thank you", "signed", "regards", "sincerely", "from",
    "patient", "name", "names", "miss", "patient is",
    "i am", "i'm", "im", "i m", "for", "my son", "my daughter", "my wife", "my husband", "my mom",
    "my mother", "my dad", "my father", "my child", "my kid", "my baby", "my partner", "my sister",
    "my brother", "my grandma", "my grandmother", "my grandpa", "my grandfather", "my friend",
    "son", "daughter", "wife", "husband", "and", "with", "see", "saw", "hi", "hey", "hello", "dear",
    "ask", "tell", "is",
]
STRONG_CUES += ["my son", "my daughter", "my wife", "my husband", "my child", "my kid", "my baby"]
FILLERS = {"its", "it's", "it", "is", "my", "name", "names", "name's", "ok", "okay", "yes", "sure", "this", "the", "i'm", "im"}
# Cues after which an unknown word (not English, not listed) is taken as a name
INTRO_CUES = ["this is", "it's", "its", "it is", "thanks", "thank you", "from", "name", "names",
              "patient", "patient is", "signed", "regards", "sincerely", "i am", "i'm", "im", "hi", "hey", "hello"]
MAX_NAME_TOKENS = 3


def _cue_regex(cues: List[str]) -> re.Pattern:
    alt = "|".join(re.escape(c).replace(r"\ ", r"\s+") for c in sorted(cues, key=len, reverse=True))
    return re.compile(rf"(?:^|(?<=[^\w'])|(?<=^\W+))(?:{alt})[\s:,-]*$", re.I)


class PersonNameRecognizer(LocalRecognizer):
    ENTITY = "PERSON"

    def __init__(self):
        super().__init__(supported_entities=[self.ENTITY], name="PersonNameRecognizer", supported_language="en")

    def load(self) -> None:
        self.first = wordlists.first_names()
        self.last = wordlists.last_names()
        self.not_name = wordlists.not_a_name()
        self.clinical = wordlists.clinical_terms()
        self.english = wordlists.english_words()
        self.strong_cue = _cue_regex(STRONG_CUES)
        self.weak_cue = _cue_regex(WEAK_CUES)
        self.intro_cue = _cue_regex(INTRO_CUES)

    def _listed(self, word: str) -> bool:
        return word in self.first or word in self.last

    def _plain(self, word: str) -> str:
        word = word.lower().replace("’", "'")
        return word[:-2] if word.endswith("'s") else word

    def _kind(self, word: str) -> str:
        """N: a listed name; A: a name that is also an English word; O: unknown, not English; W: a word."""
        if word in self.clinical or len(word) < 2:
            return "W"
        if word in self.not_name:
            return "A" if self._listed(word) else "W"
        if self._listed(word):
            return "N"
        if word not in self.english and word.isalpha():
            return "O"
        return "W"

    def analyze(self, text: str, entities, nlp_artifacts=None) -> List[RecognizerResult]:
        if not hasattr(self, "first"):
            self.load()
        tokens = [(m.start(), m.end(), self._plain(m.group()), self._kind(self._plain(m.group()))) for m in TOKEN.finditer(text)]
        results: List[RecognizerResult] = []
        i = 0
        while i < len(tokens):
            span = self._name_at(text, tokens, i)
            if span:
                j, score = span
                results.append(self._result(tokens[i][0], tokens[j - 1][1], score))
                i = j
            else:
                i += 1
        bare = self._bare_answer(text, tokens)
        if bare and not any(r.start <= bare[0] and r.end >= bare[1] for r in results):
            results.append(self._result(bare[0], bare[1], 0.6))
        return results

    def _joined(self, text: str, tokens, j: int) -> bool:
        gap = text[tokens[j - 1][1] : tokens[j][0]]
        return len(gap) <= 3 and not gap.strip(" ,.") and "\n" not in gap

    def _name_at(self, text: str, tokens, i: int) -> Optional[tuple]:
        start, _, word, kind = tokens[i]
        before = text[max(0, start - 25) : start]
        strong = bool(self.strong_cue.search(before))
        title_pair = self._title_pair(text, tokens, i)
        if kind == "W":
            # "my name is Testy": after an explicit cue even an English word is the name
            if not ((strong or title_pair) and word.isalpha() and word not in STOP_WORDS and word not in self.clinical):
                return None
        weak = not strong and bool(self.weak_cue.search(before))
        if kind == "A" and not strong:
            return None
        # extend: names, unknown words, ambiguous surnames after a name, middle initials
        j = i + 1
        kinds = [kind]
        while j < len(tokens) and j - i < MAX_NAME_TOKENS + 1 and self._joined(text, tokens, j):
            w, k = tokens[j][2], tokens[j][3]
            if len(w) == 1 and j + 1 < len(tokens) and self._joined(text, tokens, j + 1) and tokens[j + 1][3] in "NOA":
                kinds.append("I")  # middle initial "m."
            elif k in "NO" or (k == "A" and kinds[-1] in "NOI" and w in self.last and w not in STOP_WORDS):
                kinds.append(k)
            else:
                break
            j += 1
        after = text[tokens[j - 1][1] : tokens[j - 1][1] + 8].lower()
        here = bool(re.match(r"[\s,]+here\b", after))
        if strong or here:
            return j, 0.85
        names = [k for k in kinds if k != "I"]
        if title_pair:
            return max(j, i + 2), 0.6
        at_end = not text[tokens[j - 1][1] :].strip(" .!?,")
        intro = weak and bool(self.intro_cue.search(before))
        if weak and (kind == "N" or (kind == "O" and intro and (len(names) >= 2 or at_end))):
            return j, 0.75
        if len(names) >= 2 and "N" in names and kinds[0] in "NO":
            return j, 0.7
        if len(names) >= 2 and all(text[tokens[k][0]].isupper() for k in range(i, j)) and kinds[0] in "NO":
            return j, 0.6  # "Wridesh Jhaveri": two capitalised unknown words
        return None

    def _title_pair(self, text: str, tokens, i: int) -> bool:
        """"Testy McFakeface" mid-text: two capitalised words, the second unknown to English."""
        if i + 1 >= len(tokens) or not self._joined(text, tokens, i + 1):
            return False
        a, b = text[tokens[i][0] : tokens[i][1]], text[tokens[i + 1][0] : tokens[i + 1][1]]
        return (a[:1].isupper() and b[:1].isupper() and not a.isupper() and tokens[i + 1][3] in "NO"
                and tokens[i][2] not in self.not_name and tokens[i][2] not in STOP_WORDS)

    def _bare_answer(self, text: str, tokens) -> Optional[tuple]:
        """A message that is only a name ("john smith", "SMITH, JOHN", "its maria")."""
        if len(text) > 60 or any(c.isdigit() for c in text):
            return None
        words = [t for t in tokens if t[2] not in FILLERS]
        if not 1 <= len(words) <= MAX_NAME_TOKENS:
            return None
        if any(t[3] == "W" for t in words):
            return None
        kinds = {t[3] for t in words}
        if "N" not in kinds and kinds != {"O"}:
            return None  # "cancel my appointemnt": an everyday word next to a typo is not a name
        return words[0][0], words[-1][1]

    def _result(self, start: int, end: int, score: float) -> RecognizerResult:
        return RecognizerResult(
            entity_type=self.ENTITY,
            start=start,
            end=end,
            score=score,
            analysis_explanation=AnalysisExplanation(self.name, score),
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )
