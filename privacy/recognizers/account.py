"""Billing and bank account numbers given after a word like "account" or "acct"."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import NEEDS_CONTEXT, ChatPatternRecognizer


class AccountRecognizer(ChatPatternRecognizer):
    ENTITY = "ACCOUNT"
    PATTERNS = [
        # payment card numbers are account numbers too; Luhn-checked, no cue needed
        Pattern("payment_card", r"(?<![\w-])(?:\d{4}[ -]?){3}\d{1,7}(?![\w]|[ -]\d)", 0.5),
        Pattern("after_context", r"(?<![\w-])(?=[a-z0-9-]{0,20}\d{4})[a-z]{0,4}-?\d[\d-]{3,18}\d(?![\w])", NEEDS_CONTEXT),
    ]
    CONTEXT = ["account", "acct", "acc", "a/c", "billing", "invoice", "statement", "routing", "bank", "card ending"]
    CONTEXT_REQUIRED = frozenset({"after_context"})

    def validate_result(self, pattern_text: str):
        digits = [int(c) for c in pattern_text if c.isdigit()]
        if not 13 <= len(digits) <= 19:
            return None  # not a card shape: score stays as the pattern says
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
        return total % 10 == 0 or None
