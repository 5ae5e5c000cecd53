"""Every log line redacted before a handler writes it: stdlib logging and structlog, all levels.

Wire-up, first thing in each process (Rasa server and action server):

    from privacy.logging import install_log_redaction
    install_log_redaction()          # stdlib: every handler, now and later; structlog if configured

After Rasa has configured structlog (rasa.utils.log_utils.configure_structlog), call
install_structlog_redaction() again, or add `redact_structlog_event` before the renderer.
Per conversation, bind what the patient told the bot so it is removed even where no recognizer
would find it:

    with known_values_bound({"patient_name": ..., "dob": ...}):
        ...  # logging here removes those values too

A line that cannot be redacted in time is replaced by DROPPED_LINE (and counted), never written raw.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from functools import lru_cache
from typing import Any, Optional

import regex as re

from privacy import wordlists
from privacy.engine import COUNTERS, safe_redact, safe_redact_value

DROPPED_LINE = "[log line withheld: PHI redaction failed]"
LOG_TIMEOUT_S = 1.0
_known_values: contextvars.ContextVar = contextvars.ContextVar("privacy_known_values", default=())
_busy = threading.local()  # set while this thread is redacting: Presidio/spaCy's own lines pass

_STANDARD_ATTRS = set(vars(logging.LogRecord("x", 0, "x", 0, "x", (), None))) | {"message", "asctime", "_phi_redacted"}

_TRIGGER = re.compile(
    r"\d{3}|\d{1,2}\s?[/-]\s?\d{1,2}|\d{1,2}\.\d{1,2}\.\d\d|@|://|www\.|\bp\.?\s?o\.?\s?box"
    r"|\b(?:9\d|1[0-2]\d)\b"
    r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s{0,2}\d"
    r"|\d(?:st|nd|rd|th)?\s{1,2}(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"|\.(?:com|net|org|edu|gov|io|us)\b"
    # A house number before a word ("12 elm street") and a spelled-out address ("at example
    # dot org"): short addresses and emails that the cues above let through (found in review).
    r"|\b\d{1,5}\s+(?:[^\W\d_]+\s+){1,3}(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|court|ct"
    r"|boulevard|blvd|way|place|pl|circle|cir|terrace|parkway|pkwy|highway|hwy|trail)\b"
    r"|\b(?:apt|apartment|unit|suite|ste)\.?\s*#?\d|\bdot\s+(?:com|net|org|edu|gov|io|us)\b"
    r"|\b(?:name|this\s+is|i\s?am|i'?m|dr|mr|mrs|ms|patient|son|daughter|wife|husband|here|thanks|call\s+me)\b",
    re.I,
)
_WORD = re.compile(r"[^\W\d_]{2,}")


def might_contain_phi(text: str) -> bool:
    """Cheap check (~µs) so the chatty Rasa DEBUG lines with nothing to redact skip the analyzer.

    True when the line has digits shaped like an identifier/date/age, an @ or URL, a name cue,
    a listed first/last name, or a capitalised word that is not everyday English.
    """
    if _TRIGGER.search(text):
        return True
    first, last = wordlists.first_names(), wordlists.last_names()
    not_name, english = wordlists.not_a_name(), wordlists.english_words()
    for m in _WORD.finditer(text):
        w = m.group()
        lw = w.lower()
        if lw in not_name:
            continue
        if lw in first or lw in last:
            return True
        if w[0].isupper() and lw not in english and not (w[1:] != w[1:].lower() and not w.isupper()):
            return True  # capitalised unknown word (CamelCase class names excluded)
    return False


@lru_cache(maxsize=4096)
def _redact_cached(text: str, known: tuple) -> Optional[str]:
    return safe_redact(text, known, timeout_s=LOG_TIMEOUT_S)


def redact_log_text(text: str) -> str:
    known = _known_values.get()
    if not known and not might_contain_phi(text):
        return text
    _busy.active = True
    try:
        out = _redact_cached(text, known)
    finally:
        _busy.active = False
    return DROPPED_LINE if out is None else out


def _freeze(values) -> tuple:
    if not values:
        return ()
    if isinstance(values, dict):
        return tuple(sorted((str(k), str(v)) for k, v in values.items() if isinstance(v, (str, int))))
    # (kind hint, value) pairs stay pairs: stringifying one would make it unmatchable.
    return tuple(
        (str(v[0]), str(v[1])) if isinstance(v, tuple) and len(v) == 2 else str(v) for v in values
    )


@contextlib.contextmanager
def known_values_bound(values):
    """Within this block (this task/thread), log redaction also removes these values."""
    token = _known_values.set(_freeze(values))
    try:
        yield
    finally:
        _known_values.reset(token)


def bind_known_values(values) -> contextvars.Token:
    return _known_values.set(_freeze(values))


# `logger.info("...", url, extra=OPERATIONAL)`: a line whose arguments are the deployment's own
# settings (URLs, hosts, ports, transports), never a patient's words. The recognizers read a
# URL or an IP address as PHI, which left an IT lead with "checked against <URL>; set
# SMS_PUBLIC_URL" and nothing to compare. Only for lines built from configuration.
OPERATIONAL = {"phi_free": True}


class PhiRedactingFilter(logging.Filter):
    """Rewrites the record in place: message (with args merged), exception and stack text,
    and string/dict extras. Always returns True: the (redacted) line is still worth having."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_phi_redacted", False) or getattr(_busy, "active", False):
            return True
        if getattr(record, "phi_free", False) is True and not record.exc_info and not record.exc_text:
            record._phi_redacted = True
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken %-format must not leak its args raw
            message = f"{record.msg} {record.args}"
        record.msg = redact_log_text(str(message))
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_log_text(text)
            record.exc_info = None  # handlers must use the redacted exc_text
        elif record.exc_text:
            record.exc_text = redact_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_log_text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRS:
                continue
            if isinstance(value, str):
                setattr(record, key, redact_log_text(value))
            elif isinstance(value, (dict, list, tuple)):
                cleaned = safe_redact_value(value, _known_values.get(), timeout_s=LOG_TIMEOUT_S)
                setattr(record, key, DROPPED_LINE if cleaned is None else cleaned)
        record._phi_redacted = True
        return True


PHI_FILTER = PhiRedactingFilter()
_original_handle = None


def _redacting_handle(self, record):
    PHI_FILTER.filter(record)
    return _original_handle(self, record)


def install_log_redaction(structlog_too: bool = True) -> None:
    """Put the filter on every handler of the root and existing loggers, and on any handler
    created later (logging.Handler.handle is wrapped). Safe to call more than once."""
    global _original_handle
    loggers = [logging.getLogger()] + [
        l for l in logging.root.manager.loggerDict.values() if isinstance(l, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if PHI_FILTER not in handler.filters:
                handler.addFilter(PHI_FILTER)
    if _original_handle is None:
        _original_handle = logging.Handler.handle
        logging.Handler.handle = _redacting_handle
    # Python warnings go to stderr directly, past every handler; Rasa's quote the patient's
    # message ("Failed to parse arguments in line '/<what they typed>'"). Route them through
    # logging, where the filter is.
    logging.captureWarnings(True)
    if structlog_too:
        install_structlog_redaction()


def uninstall_log_redaction() -> None:
    """Undo install_log_redaction (tests)."""
    global _original_handle
    if _original_handle is not None:
        logging.Handler.handle = _original_handle
        _original_handle = None
    logging.captureWarnings(False)
    loggers = [logging.getLogger()] + [
        l for l in logging.root.manager.loggerDict.values() if isinstance(l, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            handler.removeFilter(PHI_FILTER)
    _redact_cached.cache_clear()


# --- structlog ---------------------------------------------------------------------------------
_STRUCTLOG_KEEP = {"timestamp", "level", "logger", "log_level"}


def redact_structlog_event(logger: Any, method_name: str, event_dict: dict) -> dict:
    """structlog processor: redact every value (event text, bound slots, exception text)."""
    if "exc_info" in event_dict:
        try:
            import structlog

            event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
        except Exception:  # noqa: BLE001
            event_dict.pop("exc_info", None)
            event_dict["exception"] = DROPPED_LINE
    for key, value in list(event_dict.items()):
        if key in _STRUCTLOG_KEEP or value is None or isinstance(value, (bool, float)):
            continue
        if isinstance(value, str):
            event_dict[key] = redact_log_text(value)
        else:
            cleaned = safe_redact_value(value, _known_values.get(), timeout_s=LOG_TIMEOUT_S)
            event_dict[key] = DROPPED_LINE if cleaned is None else cleaned
    return event_dict


def install_structlog_redaction() -> bool:
    """Insert redact_structlog_event just before structlog's renderer. False if structlog is
    absent. Call again after anything (e.g. Rasa) reconfigures structlog."""
    try:
        import structlog
    except ImportError:
        return False
    processors = list(structlog.get_config().get("processors", []))
    if redact_structlog_event in processors:
        return True
    position = max(0, len(processors) - 1)  # the last processor renders
    processors.insert(position, redact_structlog_event)
    structlog.configure(processors=processors)
    return True


def redaction_counts() -> dict:
    return COUNTERS.snapshot()


def add_known_values(values) -> contextvars.Token:
    """Extend (not replace) the values bound for this task: e.g. the request binds the
    message text, then the tracker store adds what the conversation already holds."""
    return _known_values.set(_known_values.get() + _freeze(values))


def current_known_values() -> tuple:
    """The values bound for this task (e.g. to redact an archive record the same way)."""
    return _known_values.get()
