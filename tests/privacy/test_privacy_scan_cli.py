"""`python -m privacy scan` as a practice would run it: a subprocess, JSON lines in and out."""
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_scan_redacts_and_reports_bad_lines():
    lines = [
        json.dumps({"text": "hi im Testy McFakeface, call 512-555-0143"}),
        "this is not json",
        json.dumps({"no_text": 1}),
        json.dumps({"text": "lisinopril 10mg"}),
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "privacy", "scan"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = [json.loads(l) for l in proc.stdout.splitlines()]
    assert len(out) == 4
    assert out[0]["redacted"] == "hi im <NAME>, call <PHONE>"
    assert out[0]["text"].startswith("hi im Testy")
    assert {e["type"] for e in out[0]["entities"]} == {"NAME", "PHONE"}
    assert set(out[0]["entities"][0]) == {"type", "start", "end", "score"}
    assert out[1]["line"] == 2 and "JSON" in out[1]["error"]
    assert out[2]["line"] == 3 and "text" in out[2]["error"]
    assert out[3]["redacted"] == "lisinopril 10mg" and out[3]["entities"] == []
