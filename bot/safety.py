"""Emergency interrupt: a deterministic detector and the Rasa NLU component that runs it.

`detect_emergency(text)` reads a message with the patterns in bot/content/emergency.yml
(see the comments there for how matching works) and returns an `EmergencyMatch` with the
category whose fixed reply applies, or None. It is plain Python (no Rasa, no model), so the
evaluation (`python -m bot.safety_eval`) and the action server can use it without loading
TensorFlow.

When the patterns find nothing, a learned second opinion on self-harm (bot/self_harm_model.py)
reads the message too and may add a self_harm match (rule "learned_second_opinion"); it never
overrides or removes a pattern's match. `second_opinion=False`, or SAFETY_SECOND_OPINION=off
in the environment, runs the patterns alone.

`EmergencyInterrupt` is the Rasa 3.6 graph component. It goes last in the NLU pipeline, so
whatever the trained classifier (or the FallbackClassifier) said, a message the detector
flags parses as intent `emergency` with confidence 1.0 and an `emergency_category` entity.
It is built on first access (module `__getattr__`) so that importing this module for the
detector alone does not import Rasa.
"""

import logging
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Pattern, Tuple

import yaml

from bot import self_harm_model
from bot.channel_roles import is_staff_message
from bot.rasa_components import built_on_first_use, put_intent_first

logger = logging.getLogger(__name__)

CONTENT_PATH = Path(__file__).resolve().parent / "content" / "emergency.yml"
EMERGENCY_INTENT = "emergency"
CATEGORY_ENTITY = "emergency_category"
CATEGORIES = (
    "cardiac", "stroke", "breathing", "bleeding", "anaphylaxis", "unresponsive",
    "overdose_poisoning", "self_harm", "harm_others", "child_not_breathing", "infant_fever",
    "head_injury", "child_fever",
)

# Messages longer than this are read as their first and last halves of it: chat and SMS
# are far shorter, and a pasted document must not stall the pipeline.
MAX_CHARS = 8_000

_APOSTROPHES = re.compile(r"[\u2018\u2019\u201b\u2032\u00b4`]")
_CLAUSE_BREAK = re.compile(r"[.,;!?\n\r\u2026]+")
_NOT_WORD = re.compile(r"[^\w,]+|_")
_BOUNDARY = re.compile(
    r", |\b(?:and|but|however|although|though|because|so|then|while|whereas)\b"
)
_FRAGMENT_REF = re.compile(r"\{([A-Z_]+)\}")


def fold(text: Any) -> str:
    """The first step for the patterns and the learned second opinion alike: text from
    anything (bytes decoded, non-text ''), bounded (a pasted document is read as its first and
    last MAX_CHARS/2), NFKC-folded (styled phone letters become plain ones), lowercased, one
    kind of apostrophe."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str) or not text:
        return ""
    if len(text) > MAX_CHARS:
        half = MAX_CHARS // 2
        text = text[:half] + "\n" + text[-half:]
    text = unicodedata.normalize("NFKC", text).lower()
    return _APOSTROPHES.sub("'", text)


class LexiconError(ValueError):
    """emergency.yml cannot be used; the message names the entry to fix."""


@dataclass(frozen=True)
class EmergencyMatch:
    category: str
    rule: str  # which entry fired, e.g. "cardiac.patterns[0]": for audits, never text
    matched: str  # the normalised words that fired (tests and the evaluation only)
    score: Optional[float] = None  # the learned second opinion's probability, when it fired


LEARNED_RULE = "learned_second_opinion"


@dataclass(frozen=True)
class _Rule:
    category: str
    name: str
    regex: Pattern[str]
    is_mention: bool
    unless: Optional[Pattern[str]]
    requires: Optional[Pattern[str]]


def _alternation(items: Iterable[str]) -> str:
    return "(?:" + "|".join(str(item) for item in items) + ")"


def _words(items: Iterable[str]) -> Pattern[str]:
    return re.compile(r"(?<!\w)" + _alternation(items) + r"(?!\w)")


def _damerau_one(a: str, b: str) -> bool:
    """Whether two different words are exactly one edit apart (swap counts as one)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2 and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    for i in range(len(long_)):
        if long_[:i] + long_[i + 1:] == short:
            return True
    return False


def _word_matches(regex: Pattern[str], text: str) -> Iterable["re.Match[str]"]:
    """Matches of `regex` that start at the beginning of a word."""
    position = 0
    while position <= len(text):
        match = regex.search(text, position)
        if match is None:
            return
        start = match.start()
        if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
            yield match
            position = max(match.end(), start + 1)
        else:
            position = start + 1


def _deletions(word: str) -> List[str]:
    return [word[:i] + word[i + 1:] for i in range(len(word))]


class Lexicon:
    """The compiled contents of emergency.yml."""

    def __init__(self, data: Dict[str, Any], source: str = "emergency.yml") -> None:
        self.source = source
        try:
            self._build(data)
        except LexiconError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise LexiconError(f"{source}: {error!r}; compare with the shipped file") from error

    # -- construction -------------------------------------------------------------------

    def _build(self, data: Dict[str, Any]) -> None:
        self.data = data
        self.emergency_number = str(data.get("emergency_number") or "911")
        self.replies: Dict[str, str] = dict(data.get("replies") or {})
        if "default" not in self.replies:
            raise LexiconError(f"{self.source}: replies.default is missing")
        self.replies_es: Dict[str, str] = dict(data.get("replies_es") or {})
        self.spanish_words = frozenset(data.get("spanish_words") or ())
        self.english_words = frozenset(data.get("english_words") or ())
        self.order: List[str] = list(data["category_order"])
        unknown = set(self.order) ^ set(data["categories"])
        if unknown:
            raise LexiconError(
                f"{self.source}: category_order and categories differ on {sorted(unknown)}"
            )

        self.fragments = {
            name: _alternation(items) for name, items in (data.get("fragments") or {}).items()
        }
        spelling = {str(k): str(v) for k, v in (data.get("spelling") or {}).items()}
        self.spelling = spelling
        keys = sorted(spelling, key=len, reverse=True)
        self.spelling_regex = (
            re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, keys)) + r")(?!\w)")
            if keys else None
        )
        self.fuzzy_keywords = [str(w) for w in data.get("fuzzy_keywords") or []]
        self.not_typos = {str(w) for w in data.get("not_typos") or []}
        # Symmetric-deletion index: a word one edit from a keyword shares a deletion
        # variant with it, so candidates come from a dict lookup, not a scan.
        self._fuzzy_index: Dict[str, set] = {}
        for keyword in self.fuzzy_keywords:
            for variant in [keyword] + _deletions(keyword):
                self._fuzzy_index.setdefault(variant, set()).add(keyword)
        self._known = set(self.fuzzy_keywords) | self.not_typos | set(spelling.values())
        self._typo_cache: Dict[str, str] = {}

        self.distant_past = self._compile_words("distant_past", data["distant_past"])
        self.past = self._compile_words("past", data["past"])
        self.routine_context = self._compile_words("routine_context", data["routine_context"])
        self.happening_now = self._compile_words("happening_now", data["happening_now"])
        negation = data["negation"]
        self.negation = re.compile(
            r"(?:^| )(?:"
            + _alternation(["no", "denies", "denied", "deny", "denying", "without",
                            "free of", "negative for"])
            + r"(?: " + _alternation(self._noun_fillers(negation)) + r")*"
            # ... and the later items of a list: "no shortness of breath or chest pain".
            + r"(?: (?:(?!(?:if|whether|idea|clue|sure|know)\b)\w+ ){1,4}(?:or|nor))?"
            + r"|" + _alternation(c for c in negation["cues"]
                                  if c not in ("no", "denies", "denied", "deny", "denying",
                                               "without", "free of", "negative for"))
            + r"(?: " + _alternation(negation["fillers"]) + r")*"
            + r") ?$"
        )
        self.rearmed_for = set(negation.get("rearmed_for") or [])
        self.rearmed_by = self._compile_words("negation.rearmed_by", negation["rearmed_by"])

        self.rules: List[_Rule] = []
        for category in self.order:
            spec = data["categories"][category] or {}
            for kind in ("patterns", "mentions"):
                for index, entry in enumerate(spec.get(kind) or []):
                    self.rules.append(self._compile_rule(category, kind, index, entry))
        self.rank = {category: i for i, category in enumerate(self.order)}

    @staticmethod
    def _noun_fillers(negation: Dict[str, Any]) -> List[str]:
        # After "no"/"denies"/"without" only the words of a noun phrase may follow
        # ("no history of", "no thoughts of"), so "no, i want to die" is not a negation.
        verbish = {"had", "have", "having", "has", "experienced", "experiencing", "feel",
                   "feeling", "felt", "been", "got", "get", "getting", "want", "wanting",
                   "intend", "intending", "plan", "planning", "going", "to", "thinking",
                   "about", "considered", "considering", "really", "actually", "currently",
                   "ever", "im", "i", "am"}
        return [w for w in negation["fillers"] if w not in verbish]

    def _expand(self, pattern: str, where: str) -> str:
        def replace(match: "re.Match[str]") -> str:
            name = match.group(1)
            if name not in self.fragments:
                raise LexiconError(f"{self.source}: {where} uses unknown fragment {{{name}}}")
            return self.fragments[name]

        return _FRAGMENT_REF.sub(replace, pattern)

    def _compile(self, pattern: str, where: str, left_boundary: bool = True) -> Pattern[str]:
        expanded = self._expand(str(pattern), where)
        # Rule patterns leave the left word boundary to _word_matches: a leading lookbehind
        # stops Python's regex engine from skipping ahead to the pattern's first letters,
        # which made long messages about 25 times slower.
        prefix = r"(?<!\w)" if left_boundary else ""
        try:
            return re.compile(prefix + r"(?:" + expanded + r")(?!\w)")
        except re.error as error:
            raise LexiconError(f"{self.source}: {where} is not a valid pattern: {error}") from error

    def _compile_words(self, where: str, items: Iterable[str]) -> Pattern[str]:
        return self._compile(_alternation(items), where)

    def _compile_rule(self, category: str, kind: str, index: int, entry: Any) -> _Rule:
        where = f"categories.{category}.{kind}[{index}]"
        if isinstance(entry, str):
            entry = {"pattern": entry}
        if not isinstance(entry, dict) or "pattern" not in entry:
            raise LexiconError(f"{self.source}: {where} needs a pattern")
        return _Rule(
            category=category,
            name=f"{category}.{kind}[{index}]",
            regex=self._compile(entry["pattern"], where, left_boundary=False),
            is_mention=(kind == "mentions"),
            unless=self._compile(entry["unless"], where + ".unless") if entry.get("unless") else None,
            requires=(
                self._compile(entry["requires"], where + ".requires")
                if entry.get("requires") else None
            ),
        )

    # -- reading a message --------------------------------------------------------------

    def normalise(self, text: Any) -> str:
        """Lowercase words and clause breaks (" , ") with typos and SMS spelling resolved."""
        text = fold(text)
        text = re.sub(r"\bod'?d\b", "overdosed", text)  # "he od'd"
        text = re.sub(r"'ll\b", " will", text)
        text = re.sub(r"'ve\b", " have", text)
        text = text.replace("'", "")
        text = _CLAUSE_BREAK.sub(" , ", text)
        text = _NOT_WORD.sub(" ", text)
        text = " ".join(text.split())
        if self.spelling_regex is not None:
            text = self.spelling_regex.sub(lambda m: self.spelling[m.group(0)], text)
        words = [self._correct(word) for word in text.split()]
        text = " ".join(words)
        text = re.sub(r"(?:, )+", ", ", text).strip(" ,")
        return text

    def _correct(self, word: str) -> str:
        if len(word) < 5 or word in self._known or not word.isalpha():
            return word
        corrected = self._typo_cache.get(word)
        if corrected is None:
            corrected = word
            candidates = set()
            for variant in [word] + _deletions(word):
                candidates |= self._fuzzy_index.get(variant, set())
            for keyword in sorted(candidates):
                if _damerau_one(word, keyword):
                    corrected = keyword
                    break
            if len(self._typo_cache) > 20_000:  # bounded: junk input must not grow it
                self._typo_cache.clear()
            self._typo_cache[word] = corrected
        return corrected

    def detect(self, text: Any) -> Optional[EmergencyMatch]:
        normalised = self.normalise(text)
        if not normalised:
            return None
        boundaries = [(m.start(), m.end()) for m in _BOUNDARY.finditer(normalised)]
        best: Optional[Tuple[int, EmergencyMatch]] = None
        for rule in self.rules:
            rank = self.rank[rule.category]
            if best is not None and rank >= best[0]:
                continue  # a category that wins over this one has already fired
            if rule.requires is not None and not rule.requires.search(normalised):
                continue
            if rule.unless is not None and rule.unless.search(normalised):
                continue
            for match in _word_matches(rule.regex, normalised):
                if self._fires(rule, normalised, match, boundaries):
                    best = (rank, EmergencyMatch(rule.category, rule.name, match.group(0)))
                    break
        return best[1] if best else None

    def _fires(
        self, rule: _Rule, text: str, match: "re.Match[str]", boundaries: List[Tuple[int, int]]
    ) -> bool:
        start, end = match.span()
        clause_start = max((b_end for b_start, b_end in boundaries if b_end <= start), default=0)
        clause_end = min((b_start for b_start, b_end in boundaries if b_start >= end),
                         default=len(text))
        clause = text[clause_start:clause_end]
        before = text[clause_start:start].strip()

        if before and self.negation.search(before):
            rearmed = rule.category in self.rearmed_for and self.rearmed_by.search(text[end:])
            if not rearmed:
                return False
        if self.distant_past.search(clause):
            return False
        if rule.is_mention and not self.happening_now.search(clause):
            if self.past.search(clause) or self.routine_context.search(text):
                return False
        return True

    def reply(self, category: Optional[str], text: Optional[str] = None) -> str:
        """The fixed reply for a category, with the practice's emergency number; in Spanish
        first, then English, when `text` (the patient's message) reads as Spanish."""
        def said(replies: Dict[str, str]) -> str:
            template = replies.get(category or "default") or replies["default"]
            return " ".join(str(template).replace("{emergency_number}", self.emergency_number).split())

        english = said(self.replies)
        if "default" in self.replies_es and self.reads_as_spanish(text):
            return said(self.replies_es) + "\n\n" + english
        return english

    def _language_counts(self, text: Optional[str]) -> Tuple[int, int]:
        """(Spanish words, English words) in the message, by the file's two lists; the
        particles of names ("de la Cruz", "del Toro") do not count."""
        words = re.findall(r"[a-záéíóúüñ]+", (text or "").lower().replace("'", ""))
        spanish = sum(w in self.spanish_words and w not in _NAME_PARTICLES for w in words)
        return spanish, sum(w in self.english_words for w in words)

    def reads_as_spanish(self, text: Optional[str]) -> bool:
        """More of the file's `spanish_words` in the message than of its `english_words`."""
        spanish, english = self._language_counts(text)
        return spanish > english

    def is_spanish_sentence(self, text: Optional[str]) -> bool:
        """Reads as Spanish, with at least two Spanish words: "no hablo inglés" is a sentence,
        "Maria de la Cruz" or "gracias" is taken as typed."""
        spanish, english = self._language_counts(text)
        return spanish >= 2 and spanish > english


# Spanish words that are also parts of names ("de la Cruz", "del Toro", "y Gasset").
_NAME_PARTICLES = frozenset({"de", "la", "las", "los", "del", "y", "el", "san", "santa"})


# -- loading, with live reload when the practice edits the file ---------------------------

_lock = threading.Lock()
_cache: Dict[str, Tuple[float, Lexicon]] = {}


def load_lexicon(path: Optional[Path] = None) -> Lexicon:
    """The lexicon from `path` (default bot/content/emergency.yml), re-read when it changes.

    A broken edit keeps the last good version running (and logs what to fix); a broken file
    at first load raises, so the assistant does not start without its safety layer.
    """
    path = Path(path or CONTENT_PATH)
    key = str(path)
    try:
        mtime = path.stat().st_mtime
    except OSError as error:
        if key in _cache:
            logger.error("Cannot read %s (%s); keeping the emergency patterns already loaded.",
                         path, error)
            return _cache[key][1]
        raise LexiconError(f"Cannot read the emergency patterns at {path}: {error}") from error
    cached = _cache.get(key)
    if cached and cached[0] == mtime:
        return cached[1]
    with _lock:
        cached = _cache.get(key)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            with open(path, encoding="utf-8") as handle:
                lexicon = Lexicon(yaml.safe_load(handle) or {}, source=str(path))
        except (LexiconError, yaml.YAMLError) as error:
            if cached:
                logger.error("%s; keeping the previous emergency patterns until it is fixed.",
                             error)
                return cached[1]
            raise LexiconError(str(error)) from error
        _cache[key] = (mtime, lexicon)
        return lexicon


def second_opinion_enabled() -> bool:
    return os.environ.get("SAFETY_SECOND_OPINION", "on").strip().lower() not in (
        "off", "0", "false", "no")


def detect_emergency(
    text: Any, lexicon: Optional[Lexicon] = None, second_opinion: Optional[bool] = None,
) -> Optional[EmergencyMatch]:
    """The emergency a message describes, or None. Never raises on odd input.

    The patterns decide first; only when they find nothing is the learned self-harm model
    asked (unless `second_opinion` is False, or None and SAFETY_SECOND_OPINION=off).
    """
    found = (lexicon or load_lexicon()).detect(text)
    if found is not None:
        return found
    if not (second_opinion_enabled() if second_opinion is None else second_opinion):
        return None
    score = self_harm_model.second_opinion(text)
    if score is None or score < self_harm_model.THRESHOLD:
        return None
    # No span to report: a learned score has no "words that fired", and none are kept.
    return EmergencyMatch("self_harm", LEARNED_RULE, "", score)


def emergency_reply(category: Optional[str], text: Optional[str] = None,
                    lexicon: Optional[Lexicon] = None) -> str:
    """The fixed reply for `category` (None: the default), in Spanish too when `text` reads as
    Spanish (Lexicon.reply)."""
    return (lexicon or load_lexicon()).reply(category, text)


# -- the Rasa component --------------------------------------------------------------------


def _build_rasa_component() -> type:
    # Imported here: Rasa pulls in TensorFlow (seconds), which the detector never needs.
    from rasa.engine.graph import ExecutionContext, GraphComponent
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.storage.resource import Resource
    from rasa.engine.storage.storage import ModelStorage
    from rasa.shared.nlu.constants import (
        ENTITIES, INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, METADATA,
        PREDICTED_CONFIDENCE_KEY, TEXT,
    )
    from rasa.shared.nlu.training_data.message import Message

    @DefaultV1Recipe.register(
        [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
    )
    class EmergencyInterrupt(GraphComponent):
        """Overrides the intent with `emergency` when the detector fires; else no change.

        Config: `content_path` (optional) -- another emergency.yml, e.g. for tests.
        """

        @staticmethod
        def get_default_config() -> Dict[str, Any]:
            return {"content_path": None}

        def __init__(self, config: Dict[str, Any]) -> None:
            self.content_path = Path(config["content_path"]) if config.get("content_path") \
                else CONTENT_PATH
            load_lexicon(self.content_path)  # fail at startup, not on a patient's message
            if second_opinion_enabled():
                # Train it now (about a second) rather than on a patient's first message.
                self_harm_model.load()

        @classmethod
        def create(
            cls,
            config: Dict[str, Any],
            model_storage: ModelStorage,
            resource: Resource,
            execution_context: ExecutionContext,
        ) -> GraphComponent:
            return cls(config)

        def process(self, messages: List[Message]) -> List[Message]:
            for message in messages:
                self._interrupt(message)
            return messages

        def _interrupt(self, message: Message) -> None:
            text = message.get(TEXT)
            # Staff in Slack ask about policy in the words patients use in a crisis ("pt says
            # she wants to hurt herself, what's the protocol"), and the learned model, trained
            # on patient messages, flagged ordinary staff questions too: patterns only there.
            from_staff = is_staff_message(message.get(METADATA))
            try:
                lexicon = load_lexicon(self.content_path)
                found = detect_emergency(text, lexicon, second_opinion=False if from_staff else None)
            except Exception:  # noqa: BLE001 -- a bug here must not drop the message
                logger.exception("Emergency detector failed; message left to the classifier.")
                return
            if found is None:
                demoted = demote_unconfirmed_emergency(message.get(INTENT), message.get(INTENT_RANKING_KEY))
                if not from_staff and lexicon.is_spanish_sentence(text):
                    # No Spanish dialogue yet, and the classifier reads Spanish as whatever it
                    # resembles ("no hablo inglés" as "no"): the fallback answers in Spanish.
                    demoted = {INTENT_NAME_KEY: "nlu_fallback", PREDICTED_CONFIDENCE_KEY: 1.0}
                if demoted is not None:
                    message.set(INTENT, demoted, add_to_output=True)
                return
            put_intent_first(message, {INTENT_NAME_KEY: EMERGENCY_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0})
            entities = [
                entity for entity in (message.get(ENTITIES) or [])
                if entity.get("entity") != CATEGORY_ENTITY
            ]
            entities.append({
                "entity": CATEGORY_ENTITY,
                "value": found.category,
                "start": 0,
                "end": len(text or ""),
                "confidence": 1.0,
                "extractor": "EmergencyInterrupt",
            })
            message.set(ENTITIES, entities, add_to_output=True)
            # Category and rule only: never the patient's words.
            logger.info("Emergency interrupt: category %s (%s)", found.category, found.rule)

    EmergencyInterrupt.__qualname__ = "EmergencyInterrupt"
    return EmergencyInterrupt


# The trained classifier also knows `emergency`. When the lexicon did not fire, a confident
# classifier is kept as a safety net; an unsure one ("for my husband" at 0.7 during a form)
# is not allowed to send a patient to 911 instead of answering them.
CLASSIFIER_EMERGENCY_MIN_CONFIDENCE = 0.9


# config.yml's FallbackClassifier threshold. The demotion runs after that classifier, so a
# runner-up intent below it must become nlu_fallback here ("this wait is killing me lol" got
# the AI-use answer from a 0.09 runner-up). tests/test_safety.py checks the two agree.
FALLBACK_THRESHOLD = 0.45


def demote_unconfirmed_emergency(intent: Optional[Dict[str, Any]], ranking: Optional[List[Dict[str, Any]]]) -> Optional[Dict[str, Any]]:
    """The intent to use instead of an unsure classifier-only `emergency`, else None."""
    if not intent or intent.get("name") != EMERGENCY_INTENT:
        return None
    if (intent.get("confidence") or 0.0) >= CLASSIFIER_EMERGENCY_MIN_CONFIDENCE:
        return None
    for item in ranking or []:
        if item.get("name") not in (EMERGENCY_INTENT, None):
            if (item.get("confidence") or 0.0) < FALLBACK_THRESHOLD:
                break  # as unsure as the fallback classifier allows: say so, don't guess
            return {"name": item["name"], "confidence": item.get("confidence", 0.0)}
    return {"name": "nlu_fallback", "confidence": 1.0 - (intent.get("confidence") or 0.0)}


# Built on first use by Rasa (bot/rasa_components.py).
__getattr__ = built_on_first_use(globals(), "EmergencyInterrupt", _build_rasa_component)
