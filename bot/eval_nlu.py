"""`make eval-nlu`: intent macro-F1 of the trained model on the held-out test set.

The test set (tests/nlu/test_nlu.yml) is written separately from the training examples:
different phrasing, typos, lowercase, SMS style. Prints precision/recall/F1 per intent and
the misclassified examples; exits non-zero when macro-F1 is below the target.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import List, Tuple

import yaml

from bot.settings import REPO_ROOT, Settings

TEST_SET = REPO_ROOT / "tests" / "nlu" / "test_nlu.yml"
TARGET_MACRO_F1 = 0.95


def load_test_set(path: Path = TEST_SET) -> List[Tuple[str, str]]:
    items = []
    for block in yaml.safe_load(path.read_text())["nlu"]:
        for line in block["examples"].splitlines():
            text = line.strip()[2:].strip() if line.strip().startswith("- ") else ""
            if text:
                items.append((text, block["intent"]))
    return items


async def predict(model: Path, texts: List[str]) -> List[str]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    return [(await agent.parse_message(text))["intent"]["name"] for text in texts]


def scores(gold: List[str], predicted: List[str]):
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--no-assert", action="store_true")
    args = parser.parse_args()
    model = args.model or Settings.from_env().model_path()
    items = load_test_set()
    predicted = asyncio.run(predict(model, [t for t, _ in items]))
    gold = [i for _, i in items]
    rows, macro = scores(gold, predicted)
    print(f"{'intent':<24}{'precision':>10}{'recall':>8}{'f1':>8}{'n':>5}")
    for intent, p, r, f1, n in rows:
        print(f"{intent:<24}{p:>10.3f}{r:>8.3f}{f1:>8.3f}{n:>5}")
    misses = [(t, g, p) for (t, g), p in zip(items, predicted) if g != p]
    print(f"\nmacro-F1 {macro:.3f} on {len(items)} held-out examples (target >= {TARGET_MACRO_F1})")
    for text, g, p in misses:
        print(f"  miss: {text!r}: expected {g}, got {p}")
    if macro < TARGET_MACRO_F1 and not args.no_assert:
        print("FAILED: macro-F1 below target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
