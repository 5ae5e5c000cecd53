"""IPv4 and IPv6 addresses (device identifiers under HIPAA)."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import ChatPatternRecognizer

OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
H = r"[0-9a-f]{1,4}"


class IpAddressRecognizer(ChatPatternRecognizer):
    ENTITY = "IP_ADDRESS"
    PATTERNS = [
        Pattern("ipv4", rf"(?<![\w.]){OCTET}(?:\.{OCTET}){{3}}(?![\w]|\.\d)", 0.7),
        Pattern("ipv6_full", rf"(?<![\w:])(?:{H}:){{7}}{H}(?![\w:])", 0.8),
        Pattern("ipv6_compressed", rf"(?<![\w:])(?:{H}:){{1,6}}:(?:{H}(?::{H}){{0,5}})?(?![\w:])", 0.6),
    ]
    CONTEXT = ["ip", "ip address", "address"]

    def accept(self, text: str, start: int, end: int) -> bool:
        value = text[start:end]
        if "::" in value and value.count(":") < 3 and not any(c.isalpha() for c in value):
            return False  # "10::30" style typos of times, not addresses
        return True
