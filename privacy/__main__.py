"""`python -m privacy scan` (JSON lines in, JSON lines out) and `python -m privacy eval`.

scan reads {"text": ..., "known_values": {...} (optional)} per line on stdin and writes
{"text", "redacted", "entities": [{"type","start","end","score"}]} per line; a line that is not
valid input gets {"error": "...", "line": N} instead. A practice can run it on its own files.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Optional, Sequence, TextIO

USAGE = """usage: python -m privacy scan < input.jsonl > output.jsonl
       python -m privacy eval [--split test|tune] [--no-assert] [--skip-stock] [--show-misses N]"""


def scan(stdin: TextIO, stdout: TextIO) -> int:
    from privacy.engine import get_redactor

    redactor = get_redactor()
    errors = 0
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ValueError('each line must be a JSON object with a string "text"')
            known = item.get("known_values") or ()
            result = redactor.redact(item["text"], known)
            out = {
                "text": item["text"],
                "redacted": result.redacted,
                "entities": [{"type": e.type, "start": e.start, "end": e.end, "score": e.score} for e in result.entities],
            }
        except json.JSONDecodeError as exc:
            errors += 1
            out = {"error": f"not valid JSON ({exc.msg} at column {exc.colno})", "line": number}
        except Exception as exc:  # noqa: BLE001 - one bad line must not stop a file scan
            errors += 1
            # the message never echoes the input text
            out = {"error": f"{type(exc).__name__}: {exc}" if isinstance(exc, ValueError) else type(exc).__name__, "line": number}
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "scan":
        # stdin may hold any bytes: decode leniently instead of dying on the first bad byte
        stdin = open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False)
        return scan(stdin, sys.stdout)
    if command == "eval":
        from privacy.eval.run import main as eval_main

        return eval_main(rest)
    if command == "archive":
        return archive_command(rest)
    print(f"unknown command {command!r}\n{USAGE}", file=sys.stderr)
    return 2


def archive_command(args: Sequence[str]) -> int:
    """Retention for the redacted transcript archive (privacy/archive.py)."""
    import argparse
    import asyncio

    from privacy import archive

    parser = argparse.ArgumentParser(prog="python -m privacy archive")
    sub = parser.add_subparsers(dest="action", required=True)
    purge = sub.add_parser("purge", help="delete rows older than a retention period")
    purge.add_argument("--older-than-days", type=int, default=int(os.environ.get("ARCHIVE_RETENTION_DAYS", "90")))
    forget = sub.add_parser("forget", help="delete one conversation's rows")
    forget.add_argument("conversation_key")
    sub.add_parser("stats", help="row count and oldest row")
    options = parser.parse_args(list(args))
    if options.action == "purge":
        removed = asyncio.run(archive.purge_older_than(options.older_than_days))
        print(json.dumps({"purged_rows": removed, "older_than_days": options.older_than_days}))
    elif options.action == "forget":
        print(json.dumps({"forgotten_rows": asyncio.run(archive.forget_conversation(options.conversation_key))}))
    else:
        print(json.dumps(asyncio.run(archive.stats())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
