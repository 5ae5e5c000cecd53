"""Scores, defined for privacy rather than for NER tagging:

- recall of a gold span: every letter/digit of it is inside some redacted span (any tag) —
  "John <NAME>" counts as a leak of that name.
- precision of a predicted tag: share of its spans that overlap any gold PHI span.
- leak rate: share of messages with at least one gold span not fully removed.
- altered: share of PHI-free messages where anything was redacted.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

Span = Tuple[str, int, int]


@dataclass
class Score:
    gold: Dict[str, int] = field(default_factory=lambda: defaultdict(int))
    found: Dict[str, int] = field(default_factory=lambda: defaultdict(int))
    pred: Dict[str, int] = field(default_factory=lambda: defaultdict(int))
    pred_ok: Dict[str, int] = field(default_factory=lambda: defaultdict(int))
    messages: int = 0
    leaked_messages: int = 0
    clean_messages: int = 0
    clean_altered: int = 0
    latencies_ms: List[float] = field(default_factory=list)
    misses: List[Tuple[str, str, str]] = field(default_factory=list)  # (type, value, text)
    false_alarms: List[Tuple[str, str, str]] = field(default_factory=list)

    def add(self, text: str, gold: Sequence[Span], pred: Sequence[Span], ignore: Sequence[Span] = ()) -> None:
        self.messages += 1
        covered = [False] * len(text)
        for _, s, e in pred:
            for i in range(max(0, s), min(len(text), e)):
                covered[i] = True
        leaked = False
        for kind, s, e in gold:
            self.gold[kind] += 1
            if all(covered[i] for i in range(s, e) if text[i].isalnum()):
                self.found[kind] += 1
            else:
                leaked = True
                self.misses.append((kind, text[s:e], text))
        self.leaked_messages += leaked
        for kind, s, e in pred:
            if any(s < ge and gs < e for _, gs, ge in ignore) and not any(s < ge and gs < e for _, gs, ge in gold):
                continue  # overlaps only a separately-scored type (ORGANIZATION, GPE)
            self.pred[kind] += 1
            if any(s < ge and gs < e for _, gs, ge in gold):
                self.pred_ok[kind] += 1
            else:
                self.false_alarms.append((kind, text[s:e], text))
        if not gold and not ignore:
            self.clean_messages += 1
            self.clean_altered += bool(pred)

    # --- figures -------------------------------------------------------------------------
    def recall(self, kind: str | None = None) -> float:
        if kind is None:
            g = sum(self.gold.values())
            return sum(self.found.values()) / g if g else 1.0
        return self.found[kind] / self.gold[kind] if self.gold[kind] else 1.0

    def precision(self, kind: str | None = None) -> float:
        if kind is None:
            p = sum(self.pred.values())
            return sum(self.pred_ok.values()) / p if p else 1.0
        return self.pred_ok[kind] / self.pred[kind] if self.pred[kind] else 1.0

    def leak_rate(self) -> float:
        return self.leaked_messages / self.messages if self.messages else 0.0

    def altered_rate(self) -> float:
        return self.clean_altered / self.clean_messages if self.clean_messages else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(round(q * (len(data) - 1))))]

    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0
