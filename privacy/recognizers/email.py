"""Email addresses, including the spelled-out "name at gmail dot com" form (no tldextract)."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import ChatPatternRecognizer


class ChatEmailRecognizer(ChatPatternRecognizer):
    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = [
        Pattern("email", r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,24}(?![\w-])", 0.9),
        Pattern(
            "spelled_out",
            r"(?<![\w])[\w.+-]+\s+(?:at|\[at\]|\(at\))\s+[\w-]+\s*(?:dot|\.|\[dot\]|\(dot\))\s*(?:com|net|org|edu|gov|us|io|co)(?![\w])",
            0.6,
        ),
    ]
    CONTEXT = ["email", "e-mail", "mail"]
