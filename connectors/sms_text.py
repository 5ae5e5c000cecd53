"""Shaping bot replies for SMS: GSM-7 vs UCS-2 length, sentence-boundary splitting, and
buttons as numbered choices.

Lengths are what the carrier counts, not Python's `len`: GSM-7 text counts one per
character and two for the extension characters (they travel as ESC + char); a single
character outside GSM-7 (an emoji, a curly quote) switches the whole message to UCS-2,
which counts UTF-16 code units (an emoji is two).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

# Twilio refuses bodies over 1,600 characters; we keep each message at or under that.
MAX_SMS_UNITS = 1600

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2

    @property
    def segments(self) -> int:
        """How many SMS parts a carrier bills (concatenated parts carry a 6/7-unit header)."""
        single, multi = (160, 153) if self.encoding == "GSM-7" else (70, 67)
        if self.units <= single:
            return 1 if self.units else 0
        return math.ceil(self.units / multi)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def sms_length(text: str) -> SmsLength:
    if is_gsm7(text):
        return SmsLength("GSM-7", sum(2 if ch in GSM7_EXTENSION else 1 for ch in text))
    return SmsLength("UCS-2", len(text.encode("utf-16-le")) // 2)


def _units(text: str) -> int:
    return sms_length(text).units


# A sentence ends at . ! ? or … (plus closing quotes/brackets) followed by space, or at a
# line break; the separator stays with the sentence before it.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+|\n+")
_WORD_END = re.compile(r"\s+")


def _cut(text: str, pattern: "re.Pattern[str]") -> List[str]:
    pieces, start = [], 0
    for match in pattern.finditer(text):
        pieces.append(text[start:match.end()])
        start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _pieces_within(text: str, limit: int) -> List[str]:
    """Sentences; a sentence too long on its own falls back to words, then characters."""
    out: List[str] = []
    for sentence in _cut(text, _SENTENCE_END):
        if _units(sentence.strip()) <= limit:
            out.append(sentence)
            continue
        for word in _cut(sentence, _WORD_END):
            if _units(word.strip()) <= limit:
                out.append(word)
                continue
            chunk = ""
            for ch in word:  # Python str indexes code points, so no surrogate pair is split
                if _units(chunk + ch) > limit:
                    out.append(chunk)
                    chunk = ""
                chunk += ch
            out.append(chunk)
    return out


def split_for_sms(text: str, limit: int = MAX_SMS_UNITS) -> List[str]:
    """Messages of at most `limit` units each, cut at sentence boundaries where possible."""
    text = text.strip()
    if not text:
        return []
    if _units(text) <= limit:
        return [text]
    messages: List[str] = []
    current = ""
    for piece in _pieces_within(text, limit):
        if current and _units((current + piece).strip()) > limit:
            messages.append(current.strip())
            current = ""
        current += piece
    if current.strip():
        messages.append(current.strip())
    return [m for m in messages if m]


def numbers_phrase(count: int) -> str:
    """'1', '1 or 2', '1, 2 or 3', ..."""
    numbers = [str(i) for i in range(1, count + 1)]
    if count <= 1:
        return "".join(numbers)
    return ", ".join(numbers[:-1]) + " or " + numbers[-1]


# An action that already lists numbered choices in its text ("1. Mon 9:00") understands
# typed numbers itself; adding our own numbering would show two conflicting lists.
_NUMBERED_LINE = re.compile(r"^\s*\d{1,2}[.)]\s+\S", re.MULTILINE)


def text_has_numbered_choices(text: str) -> bool:
    return len(_NUMBERED_LINE.findall(text or "")) >= 2


def render_with_buttons(text: str, buttons: Sequence[Dict[str, Any]]) -> str:
    lines = [text.rstrip()] if text and text.strip() else []
    for i, button in enumerate(buttons, 1):
        lines.append(f"{i}. {button.get('title') or button.get('payload', '')}")
    lines.append(f"Reply {numbers_phrase(len(buttons))}.")
    return "\n".join(lines)


_TYPED_CHOICE = re.compile(r"^\s*(?:#|no\.?\s*|option\s+)?(\d{1,2})\s*[.)]?\s*$", re.IGNORECASE)


def payload_for_reply(text: str, buttons: Optional[Sequence[Dict[str, Any]]]) -> Optional[str]:
    """The payload of the button a typed number picks, or None when it picks none."""
    if not buttons:
        return None
    match = _TYPED_CHOICE.match(text or "")
    if not match:
        return None
    index = int(match.group(1))
    if 1 <= index <= len(buttons):
        return buttons[index - 1].get("payload") or buttons[index - 1].get("title")
    return None


@dataclass
class ShapedReply:
    """What one bot turn becomes on SMS: the message bodies, and the buttons a typed number
    should map back to (empty when the text lists its own numbered choices)."""

    bodies: List[str]
    buttons: List[Dict[str, Any]]


def shape_reply(messages: Sequence[Dict[str, Any]], limit: int = MAX_SMS_UNITS) -> ShapedReply:
    """Turn Rasa's collected messages for one turn into SMS bodies.

    The turn's texts are joined into one conversation-sized text (fewer, fuller texts read
    better than a burst of fragments), then split to fit. Images and attachments are not
    sent as MMS; their link is not sent either (it might identify a patient's document).
    """
    joined, buttons = join_turn(messages, "sms")
    return ShapedReply(bodies=split_for_sms(joined, limit), buttons=buttons)


def join_turn(
    messages: Sequence[Dict[str, Any]], custom_key: str
) -> Tuple[str, List[Dict[str, Any]]]:
    """One bot turn as one text for a text-only channel, and the buttons a typed number picks.

    Buttons become a numbered list (unless the text numbers its own choices; then the action
    reads the numbers itself). `custom: {<custom_key>: "..."}` adds an action's own wording
    for this channel."""
    parts: List[str] = []
    buttons: List[Dict[str, Any]] = []
    for message in messages:
        text = (message.get("text") or "").strip()
        message_buttons = [b for b in (message.get("buttons") or []) if isinstance(b, dict)]
        if message_buttons and not text_has_numbered_choices(text):
            parts.append(render_with_buttons(text, message_buttons))
            buttons = message_buttons  # the latest choices win
        elif text:
            parts.append(text)
            if message_buttons:
                buttons = []  # the action reads its own numbers
        custom = message.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get(custom_key), str):
            parts.append(custom[custom_key].strip())
    return "\n\n".join(p for p in parts if p), buttons
