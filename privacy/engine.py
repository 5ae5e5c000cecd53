"""The PHI redactor: Presidio AnalyzerEngine on spaCy + the chat recognizers + known values.

    from privacy.engine import get_redactor, safe_redact
    get_redactor().redact("my dob is 3/14/1961", known_values={"patient_name": "Testy McFakeface"})
    safe_redact(text, known_values, timeout_s=2.0)  # None when redaction failed: drop the record

Built once per process (get_redactor); loading spaCy takes ~1 s.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, List, NamedTuple, Optional

import regex as re
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult as AnonymizerResult

from privacy import references as practice_references
from privacy.known_values import find_known
from privacy.nlp import GatedSpacyNlpEngine
from privacy.offline import make_tldextract_offline
from privacy.recognizers import TAGS, build_recognizers
from privacy.recognizers.base import SCORE_THRESHOLD
from privacy.settings import PrivacySettings, get_settings

# Presidio and spaCy log at DEBUG/INFO about their own work; none of it is useful in a clinic log
for _name in ("presidio-analyzer", "presidio-anonymizer"):
    logging.getLogger(_name).setLevel(logging.WARNING)

CHUNK_CHARS = 2000  # long texts are analysed in pieces so time grows linearly with length
# Consecutive pieces share this much text: a phone number or address cut by a piece's end is
# whole in the next piece (found in review: one straddling the cut was stored as it was).
CHUNK_OVERLAP = 200
MAX_DEPTH = 8  # nested slot values deeper than this are replaced whole
MAX_ITEMS = 500
REDACTED_DEEP = "<REDACTED>"


class NoContextEnhancer(ContextAwareEnhancer):
    """Context is decided inside each recognizer (recognizers/base.py); Presidio's lemma
    enhancer would add +0.35 on top and blur which type wins when two recognizers overlap."""

    def __init__(self):
        super().__init__(context_similarity_factor=0, min_score_with_context_similarity=0, context_prefix_count=0, context_suffix_count=0)

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
        return raw_results


class Entity(NamedTuple):
    type: str
    start: int
    end: int
    score: float


class RedactionResult(NamedTuple):
    redacted: str
    entities: List[Entity]


class InputTooLarge(ValueError):
    pass


class Counters:
    """Process-wide counts a health check or metrics endpoint can read."""

    def __init__(self):
        self._lock = threading.Lock()
        self.failed = 0
        self.timed_out = 0
        self.redacted = 0

    def bump(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def snapshot(self) -> dict:
        return {"redacted": self.redacted, "failed": self.failed, "timed_out": self.timed_out}


COUNTERS = Counters()


def to_text(value: Any) -> str:
    """Bytes, numbers, anything: one str. Undecodable bytes become U+FFFD, never an exception."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _chunks(text: str, size: int = CHUNK_CHARS, overlap: int = CHUNK_OVERLAP):
    """(offset, piece) pairs, cut at a line end, sentence end or space near `size` when
    possible, each piece starting `overlap` characters before the last one ended (what is
    found twice is merged by _merge)."""
    start = 0
    n = len(text)
    while start < n:
        end = min(n, start + size)
        if end < n:
            window = text[start + size // 2 : end]
            for sep in ("\n", ". ", " "):
                cut = window.rfind(sep)
                if cut >= 0:
                    end = start + size // 2 + cut + len(sep)
                    break
        yield start, text[start:end]
        if end >= n:
            return
        start = max(end - overlap, start + 1)


class Redactor:
    def __init__(self, settings: Optional[PrivacySettings] = None, always_run_ner: bool = False):
        self.settings = settings or get_settings()
        make_tldextract_offline()
        self.nlp_engine = GatedSpacyNlpEngine(self.settings.spacy_model, always_run_ner=always_run_ner)
        self.nlp_engine.load()
        registry = RecognizerRegistry(recognizers=build_recognizers(self.settings), supported_languages=["en"])
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=self.nlp_engine,
            supported_languages=["en"],
            default_score_threshold=SCORE_THRESHOLD,
            context_aware_enhancer=NoContextEnhancer(),
        )
        self.anonymizer = AnonymizerEngine()
        self._operators = {
            ent: OperatorConfig("replace", {"new_value": f"<{tag}>"}) for ent, tag in TAGS.items()
        }
        self._protected = self._protected_regex()

    def _protected_regex(self) -> re.Pattern:
        """The practice's own name, phone and reference codes survive (not PHI; staff need
        them in transcripts)."""
        alternatives = [practice_references.PATTERN]
        name = (self.settings.practice_name or "").strip()
        words = re.findall(r"[^\W_]+", name)
        if words:
            alternatives.append(r"(?<![^\W_])" + r"[\W_]{0,3}".join(map(re.escape, words)) + r"(?![^\W_])")
        digits = re.sub(r"\D", "", self.settings.practice_phone or "")[-10:]
        if len(digits) == 10:
            alternatives.append(r"(?<!\d)(?:\+?1[\s.-]?)?\(?" + digits[:3] + r"\)?[\s.-]{0,2}" + digits[3:6] + r"[\s.-]?" + digits[6:] + r"(?!\d)")
        return re.compile("|".join(alternatives), re.I)

    # --- analysis ---------------------------------------------------------------------------
    def analyze(self, text: str, known_values=()) -> List[Entity]:
        text = to_text(text)
        if len(text) > self.settings.max_chars:
            raise InputTooLarge(
                f"text of {len(text)} characters is over PRIVACY_MAX_CHARS={self.settings.max_chars}"
            )
        raw = []  # (presidio entity or tag, start, end, score, from_known)
        for offset, piece in _chunks(text):
            if not piece.strip():
                continue
            for r in self.analyzer.analyze(piece, language="en"):
                raw.append((TAGS.get(r.entity_type, r.entity_type), offset + r.start, offset + r.end, r.score, False))
        for kind, start, end in find_known(text, known_values):
            raw.append((kind, start, end, 1.0, True))
        if raw:
            keep = [(m.start(), m.end()) for m in self._protected.finditer(text)]
            raw = [
                r for r in raw
                if r[4] or not any(s <= r[1] and r[2] <= e for s, e in keep)
            ]
        return _merge(raw)

    def redact(self, text: Any, known_values=()) -> RedactionResult:
        text = to_text(text)
        entities = self.analyze(text, known_values)
        COUNTERS.bump("redacted")
        if not entities:
            return RedactionResult(text, [])
        results = [AnonymizerResult(e.type, e.start, e.end, e.score) for e in entities]
        operators = {e.type: OperatorConfig("replace", {"new_value": f"<{e.type}>"}) for e in entities}
        redacted = self.anonymizer.anonymize(text=text, analyzer_results=results, operators=operators).text
        return RedactionResult(redacted, entities)

    def redact_value(self, obj: Any, known_values=(), _depth: int = 0) -> Any:
        """Redact every string inside nested dicts/lists/tuples (slot values, event payloads).

        Keys are kept (they are slot names); strings are redacted; numbers are redacted as text
        when they look like identifiers. Past MAX_DEPTH or MAX_ITEMS the rest is replaced whole.
        """
        if _depth > MAX_DEPTH:
            return REDACTED_DEEP
        if obj is None or isinstance(obj, bool) or isinstance(obj, float):
            return obj
        if isinstance(obj, int):
            redacted = self.redact(str(obj), known_values).redacted
            return obj if redacted == str(obj) else redacted
        if isinstance(obj, (str, bytes, bytearray)):
            return self.redact(obj, known_values).redacted
        if isinstance(obj, dict):
            out = {}
            for i, (k, v) in enumerate(obj.items()):
                if i >= MAX_ITEMS:
                    out["<truncated>"] = REDACTED_DEEP
                    break
                out[k if isinstance(k, (int, float, bool)) or k is None else self.redact(str(k), known_values).redacted
                    if _looks_like_data(k) else k] = self.redact_value(v, known_values, _depth + 1)
            return out
        if isinstance(obj, (list, tuple, set, frozenset)):
            items = list(obj)[:MAX_ITEMS]
            out_list = [self.redact_value(v, known_values, _depth + 1) for v in items]
            if len(obj) > MAX_ITEMS:
                out_list.append(REDACTED_DEEP)
            return type(obj)(out_list) if isinstance(obj, tuple) else out_list
        return self.redact(str(obj), known_values).redacted


def _looks_like_data(key: Any) -> bool:
    # slot names are identifiers ("patient_name"); anything with spaces or digits may be user text
    return isinstance(key, str) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}", key)


def _merge(raw) -> List[Entity]:
    """Overlapping findings become one span covering all of them (never leave a fragment), tagged
    with the most confident finding's type."""
    if not raw:
        return []
    raw = sorted(raw, key=lambda r: (r[1], -r[2]))
    merged: List[Entity] = []
    cur_start, cur_end = raw[0][1], raw[0][2]
    best = raw[0]
    for r in raw[1:]:
        if r[1] < cur_end:
            cur_end = max(cur_end, r[2])
            if (r[3], r[2] - r[1]) > (best[3], best[2] - best[1]):
                best = r
        else:
            merged.append(Entity(best[0], cur_start, cur_end, round(best[3], 2)))
            cur_start, cur_end, best = r[1], r[2], r
    merged.append(Entity(best[0], cur_start, cur_end, round(best[3], 2)))
    return merged


_redactor: Optional[Redactor] = None
_redactor_lock = threading.Lock()


def get_redactor() -> Redactor:
    """The process-wide Redactor, built on first use."""
    global _redactor
    if _redactor is None:
        with _redactor_lock:
            if _redactor is None:
                _redactor = Redactor()
    return _redactor


def redact(text: Any, known_values=()) -> RedactionResult:
    return get_redactor().redact(text, known_values)


def redact_value(obj: Any, known_values=()) -> Any:
    return get_redactor().redact_value(obj, known_values)


_executor: Optional[ThreadPoolExecutor] = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="phi-redact")
    return _executor


def safe_redact(text: Any, known_values=(), timeout_s: Optional[float] = None) -> Optional[str]:
    """Redacted text, or None when redaction raised or took longer than timeout_s.

    None means: do not store or log this record. Failures are counted in COUNTERS, and the
    reason is logged without the text.
    """
    timeout_s = get_settings().timeout_s if timeout_s is None else timeout_s
    try:
        redactor = get_redactor()
        future = _pool().submit(redactor.redact, text, known_values)
        return future.result(timeout=timeout_s).redacted
    except FutureTimeout:
        COUNTERS.bump("timed_out")
        _log_failure("timed out after %.1fs", timeout_s)
    except Exception as exc:  # noqa: BLE001 - any failure means the record is dropped
        COUNTERS.bump("failed")
        _log_failure("failed (%s)", type(exc).__name__)
    return None


def safe_redact_value(obj: Any, known_values=(), timeout_s: Optional[float] = None) -> Any:
    """Like safe_redact for nested values; None when it failed."""
    timeout_s = get_settings().timeout_s if timeout_s is None else timeout_s
    try:
        future = _pool().submit(get_redactor().redact_value, obj, known_values)
        return future.result(timeout=timeout_s)
    except FutureTimeout:
        COUNTERS.bump("timed_out")
        _log_failure("timed out after %.1fs", timeout_s)
    except Exception as exc:  # noqa: BLE001
        COUNTERS.bump("failed")
        _log_failure("failed (%s)", type(exc).__name__)
    return None


def _log_failure(fmt: str, arg) -> None:
    # The message carries no input text, so it is safe to log even if redaction is broken.
    logging.getLogger("privacy").warning("PHI redaction " + fmt + "; record dropped", arg)
