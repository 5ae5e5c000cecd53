"""URLs, with or without a scheme. The practice's own website (clinic.yml `website`) stays."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import ChatPatternRecognizer

TLD = r"(?:com|net|org|edu|gov|mil|io|us|info|biz|co|me|ly|app|health|care|clinic|ai|tv|uk|ca|de|link|site|online)"


class ChatUrlRecognizer(ChatPatternRecognizer):
    ENTITY = "URL"
    PATTERNS = [
        Pattern("with_scheme", r"(?<![\w])(?:https?|ftp)://[^\s<>\"'`]+(?<![.,;:!?)])", 0.85),
        Pattern("www", r"(?<![\w.])www\d{0,3}\.[^\s<>\"'`]+(?<![.,;:!?)])", 0.8),
        Pattern("bare_domain", rf"(?<![@\w.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.{TLD}(?:/[^\s<>\"'`]*(?<![.,;:!?)]))?(?![\w@-])", 0.6),
    ]
    CONTEXT = ["url", "website", "link", "site"]

    def __init__(self, practice_website: str | None = None):
        super().__init__()
        host = (practice_website or "").lower().split("://")[-1].strip("/")
        self._practice_host = host[4:] if host.startswith("www.") else host

    def accept(self, text: str, start: int, end: int) -> bool:
        if not self._practice_host:
            return True
        found = text[start:end].lower().split("://")[-1]
        found = found[4:] if found.startswith("www.") else found
        return not found.startswith(self._practice_host)
