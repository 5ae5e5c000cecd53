"""Driver's licence numbers. State formats vary too much for a bare pattern: a cue word is needed."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import NEEDS_CONTEXT, ChatPatternRecognizer


class DriversLicenseRecognizer(ChatPatternRecognizer):
    ENTITY = "DRIVERS_LICENSE"
    PATTERNS = [
        Pattern("after_context", r"(?<![\w-])(?=[a-z0-9-]{0,20}\d{3})[a-z0-9][a-z0-9-]{3,18}[a-z0-9](?![\w])", NEEDS_CONTEXT),
    ]
    CONTEXT = ["license", "licence", "dl", "dl#", "driver's", "drivers", "driver", "driving", "state id", "id number"]
    CONTEXT_REQUIRED = frozenset({"after_context"})
