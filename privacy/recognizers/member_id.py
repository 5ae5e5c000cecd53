"""Health-plan member, subscriber, group and policy ids (and Medicare MBIs, which need no context)."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import NEEDS_CONTEXT, ChatPatternRecognizer


class MemberIdRecognizer(ChatPatternRecognizer):
    ENTITY = "MEMBER_ID"
    PATTERNS = [
        Pattern("medicare_mbi", r"(?<![\w-])[1-9][ac-hj-km-np-rt-y][ac-hj-km-np-rt-y\d]\d-?[ac-hj-km-np-rt-y][ac-hj-km-np-rt-y\d]\d-?[ac-hj-km-np-rt-y]{2}\d{2}(?![\w])", 0.85),
        # "XYZ123456789", "W123456789": payer prefix + 8-12 digits
        Pattern("payer_prefixed", r"(?<![\w-])[a-z]{1,3}\d{8,12}(?![\w])", 0.6),
        Pattern("after_context", r"(?<![\w-])(?=[a-z0-9-]{0,20}\d{3})[a-z0-9][a-z0-9-]{4,18}[a-z0-9](?![\w])", NEEDS_CONTEXT),
    ]
    CONTEXT = [
        "member", "member id", "member number", "subscriber", "policy", "policy number", "insurance",
        "insurance id", "plan id", "group", "group number", "group #", "medicaid", "medicare",
        "id card", "ins id", "beneficiary", "bcbs", "aetna", "cigna", "humana", "uhc", "united",
    ]
    CONTEXT_REQUIRED = frozenset({"after_context"})
