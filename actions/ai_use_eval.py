"""Check the AI-use answers: readability of every answer and routing of patient questions.

    .venv/bin/python -m actions.ai_use_eval              # exits 1 on a missed target
    .venv/bin/python -m actions.ai_use_eval --no-assert  # just print
    .venv/bin/python -m actions.ai_use_eval --file other/ai_use.yml --set other/questions.yml

Readability: the Flesch-Kincaid grade (textstat) of every answer the content file can
produce, as sent to the patient (placeholders filled). Target: grade 8 or below, at most
70 words each. textstat counts syllables with the CMU pronouncing dictionary when NLTK's
`cmudict` corpus is installed and otherwise tries to download it at run time; offline (CI,
the development machine) `fk_grade` uses textstat's own fallback, pyphen hyphenation, for
every word instead, and the report says which one was used.

Routing: tests/ai_use_questions.yml, written in patient style before the rules and never
tuned on. A question counts as right only when both the kind of question and the named tool
(if any) match the label. Target: accuracy 0.90 or above on `questions`. The same file's
later lists (`after_rules`, `after_round_2`, `after_round_3`), each written after a round of rule changes,
are reported too, not gated: the author of the first list also wrote the rules, so its
figure is the optimistic one. See the file's comments for which lists have since been seen.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import List, Optional, Tuple

import pyphen
import textstat
import yaml

from actions.ai_use import TOPICS, all_answers, classify, load_ai_use

QUESTION_SET = Path(__file__).resolve().parent.parent / "tests" / "ai_use_questions.yml"
MAX_GRADE = 8.0
MAX_WORDS = 70
MIN_ACCURACY = 0.90


def _cmudict_installed() -> bool:
    import nltk

    try:
        nltk.data.find("corpora/cmudict")
        return True
    except LookupError:
        return False


SYLLABLES_FROM = "cmudict" if _cmudict_installed() else "pyphen"
_HYPHENATOR = pyphen.Pyphen(lang="en_US")


def fk_grade(text: str) -> float:
    """Flesch-Kincaid grade, never reaching for the network."""
    if SYLLABLES_FROM == "cmudict":
        return textstat.flesch_kincaid_grade(text)
    # The same formula and counts as textstat, with its per-word pyphen fallback for all words.
    words = textstat.remove_punctuation(text).lower().split()
    sentences = textstat.sentence_count(text)
    if not words or not sentences:
        return 0.0
    syllables = sum(len(_HYPHENATOR.positions(word)) + 1 for word in words)
    return 0.39 * len(words) / sentences + 11.8 * syllables / len(words) - 15.59


def word_count(text: str) -> int:
    return len([w for w in text.replace("•", " ").split() if any(c.isalnum() for c in w)])


def load_question_set(path: Path, section: str = "questions") -> List[Tuple[str, str, Optional[str]]]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    items = []
    for row in data.get(section) or []:
        if row["type"] not in TOPICS:
            raise SystemExit(f"{path}: unknown type {row['type']!r} for {row['q']!r}; use one of {', '.join(TOPICS)}")
        items.append((str(row["q"]), row["type"], row.get("tool")))
    return items


def readability(file: Optional[Path]) -> Tuple[List[Tuple[str, int, float]], bool]:
    rows = []
    for answer in all_answers(file):
        label = answer.topic + (f"/{answer.tool}" if answer.tool else "")
        rows.append((label, word_count(answer.text), fk_grade(answer.text)))
    ok = all(grade <= MAX_GRADE and words <= MAX_WORDS for _, words, grade in rows)
    return rows, ok


def routing(file: Optional[Path], question_set: Path, section: str = "questions"):
    data = load_ai_use(file)
    items = load_question_set(question_set, section)
    right, topic_right, per_topic, misses = 0, 0, Counter(), []
    totals = Counter(topic for _, topic, _ in items)
    for question, topic, tool in items:
        got = classify(question, data)
        if got == (topic, tool):
            right += 1
            per_topic[topic] += 1
        else:
            misses.append((question, (topic, tool), got))
        topic_right += got[0] == topic
    return len(items), right, topic_right, per_topic, totals, misses


def report_routing(file: Optional[Path], question_set: Path, section: str, note: str) -> float:
    total, right, topic_right, per_topic, totals, misses = routing(file, question_set, section)
    print(f"\nRouting on {question_set.name} `{section}` ({total} questions, {note})")
    for topic in TOPICS:
        if totals[topic]:
            print(f"  {topic:10s} {per_topic[topic]:2d}/{totals[topic]:<2d}")
    print(f"  accuracy {right / total:.3f} (kind of question and tool); kind of question only {topic_right / total:.3f}")
    for question, expected, got in misses:
        print(f"  MISS {question!r}: expected {expected}, got {got}")
    return right / total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, help="content file (default: $AI_USE_FILE or bot/content/ai_use.yml)")
    parser.add_argument("--set", type=Path, default=QUESTION_SET, help="labelled question set")
    parser.add_argument("--no-assert", action="store_true", help="print only; always exit 0")
    args = parser.parse_args(argv)

    rows, readable = readability(args.file)
    print(f"Readability (Flesch-Kincaid grade, syllables from {SYLLABLES_FROM}, target <= {MAX_GRADE:g}; "
          f"words, target <= {MAX_WORDS})")
    for label, words, grade in sorted(rows, key=lambda r: -r[2]):
        flag = "  <-- too hard" if grade > MAX_GRADE else ""
        flag += "  <-- too long" if words > MAX_WORDS else ""
        print(f"  {grade:5.1f}  {words:3d} words  {label}{flag}")
    grades = [g for _, _, g in rows]
    print(f"  {len(rows)} answers: max grade {max(grades):.1f}, mean {statistics.mean(grades):.1f}, "
          f"longest {max(w for _, w, _ in rows)} words")

    accuracy = report_routing(args.file, args.set, "questions", f"target >= {MIN_ACCURACY:.2f}")
    for section in ("after_rules", "after_round_2", "after_round_3"):
        if load_question_set(args.set, section):
            report_routing(args.file, args.set, section, "written later; reported, not gated")

    failed = []
    if not readable:
        failed.append("an answer is above grade 8 or longer than 70 words")
    if accuracy < MIN_ACCURACY:
        failed.append(f"routing accuracy {accuracy:.3f} < {MIN_ACCURACY:.2f}")
    if failed:
        print("\nMISSED TARGET: " + "; ".join(failed))
        return 0 if args.no_assert else 1
    print("\nAll targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
