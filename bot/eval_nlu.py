"""`make eval-nlu`: intent macro-F1 of the trained model on the held-out test set.

The test set (tests/nlu/test_nlu.yml) is written separately from the training examples:
different phrasing, typos, lowercase, SMS style. Each sentence goes through the whole
pipeline as served (`Agent.parse_message`), so a message the FallbackClassifier turns into
`nlu_fallback` counts as a miss. Prints precision/recall/F1 per intent and the misclassified
examples; exits non-zero when macro-F1 is below the target (unless --no-assert).

    .venv/bin/python -m bot.eval_nlu [--model models/x.tar.gz] [--no-assert]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import yaml

from bot.settings import REPO_ROOT, Settings

TEST_SET = REPO_ROOT / "tests" / "nlu" / "test_nlu.yml"
TRAINING_DIR = REPO_ROOT / "nlu_data" / "nlu"
TARGET_MACRO_F1 = 0.95

# The intent names are a contract (docs/helpers-brief.md, ARCHITECTURE.md).
INTENTS = (
    "greet", "goodbye", "affirm", "deny", "inform", "stop_form",
    "book_appointment", "reschedule_appointment", "cancel_appointment", "list_appointments",
    "request_refill", "refill_status",
    "ask_ai_use", "ai_opt_out", "ask_what_you_know", "forget_me", "human_handoff",
    "emergency", "staff_faq", "ask_hours", "ask_parking", "ask_insurance", "ask_new_patient",
    "ask_visit_prep",
    "none_of_these",
)

Example = Tuple[str, str]  # (text, intent)


def load_examples(path: Path) -> List[Example]:
    """(text, intent) pairs from a Rasa 3 YAML NLU file, in file order."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items: List[Example] = []
    for block in data.get("nlu", []):
        if "intent" not in block:
            continue  # synonyms, lookups, regexes
        for line in block.get("examples", "").splitlines():
            line = line.strip()
            if line.startswith("- ") and line[2:].strip():
                items.append((line[2:].strip(), block["intent"]))
    return items


def load_training(directory: Path = TRAINING_DIR) -> Dict[Path, List[Example]]:
    return {path: load_examples(path) for path in sorted(directory.glob("*.yml"))}


def normalise(text: str) -> str:
    """What counts as "the same sentence": case, punctuation and spacing ignored."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def scores(gold: List[str], predicted: List[str]):
    """Per-intent (intent, precision, recall, f1, support) over the gold intents, and macro-F1.

    Predictions outside the gold intents (e.g. nlu_fallback) lower recall only.
    """
    intents = sorted(set(gold))
    tp = Counter(g for g, p in zip(gold, predicted) if g == p)
    pred_count, gold_count = Counter(predicted), Counter(gold)
    rows = []
    for intent in intents:
        precision = tp[intent] / pred_count[intent] if pred_count[intent] else 0.0
        recall = tp[intent] / gold_count[intent]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append((intent, precision, recall, f1, gold_count[intent]))
    return rows, sum(r[3] for r in rows) / len(rows)


# Entity the deterministic safety component (bot/safety.py) adds when it overrides the
# classifier; counted separately so the report says which layer produced `emergency`.
SAFETY_ENTITY = "emergency_category"


async def predict(model: Path, texts: Iterable[str]) -> List[Tuple[str, float, bool]]:
    """(intent, confidence, safety layer fired) for each text, through the whole pipeline."""
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    # Rasa logs every parsed text at DEBUG; an evaluation report is not the place for it.
    configure_structlog(logging.WARNING)
    agent = Agent.load(str(model))
    results = []
    for text in texts:
        parsed = await agent.parse_message(text)
        intent = parsed["intent"]
        safety = any(e.get("entity") == SAFETY_ENTITY for e in parsed.get("entities") or [])
        results.append((intent["name"], float(intent.get("confidence") or 0.0), safety))
    return results


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model archive (default: newest in models/)")
    parser.add_argument("--test-set", type=Path, default=TEST_SET)
    parser.add_argument("--no-assert", action="store_true", help="report only; exit 0 below target")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow start-up noise
    model = args.model or Settings.from_env().model_path()
    if not model.exists():
        print(f"Model {model} not found. Train one with `make train`.", file=sys.stderr)
        return 2
    items = load_examples(args.test_set)
    started = time.perf_counter()
    predicted = asyncio.run(predict(model, [t for t, _ in items]))
    elapsed = time.perf_counter() - started

    gold = [i for _, i in items]
    rows, macro = scores(gold, [p for p, _, _ in predicted])
    print(f"model {model.name}; {len(items)} held-out examples from {args.test_set.name}; "
          f"{elapsed:.1f}s incl. model load\n")
    print(f"{'intent':<24}{'precision':>10}{'recall':>8}{'f1':>8}{'n':>5}")
    for intent, p, r, f1, n in rows:
        print(f"{intent:<24}{p:>10.3f}{r:>8.3f}{f1:>8.3f}{n:>5}")

    misses = [(t, g, p, c, s) for (t, g), (p, c, s) in zip(items, predicted) if g != p]
    accuracy = 1 - len(misses) / len(items)
    fallbacks = sum(1 for p, _, _ in predicted if p == "nlu_fallback")
    safety_fired = sum(1 for _, _, s in predicted if s)
    print(f"\nmacro-F1 {macro:.3f}, accuracy {accuracy:.3f}, {fallbacks} sent to nlu_fallback, "
          f"safety interrupt fired on {safety_fired} (target macro-F1 >= {TARGET_MACRO_F1})")
    if misses:
        print(f"\n{len(misses)} misclassified:")
        for text, g, p, c, s in misses:
            by = " by the safety interrupt" if s else ""
            print(f"  {text!r}: expected {g}, got {p} ({c:.2f}){by}")
    if macro < TARGET_MACRO_F1 and not args.no_assert:
        print("\nFAILED: macro-F1 below target. Add NEW training phrasings for the weak intents "
              "(never the test sentences) and retrain.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
