"""`make test-stories`: rasa test on the conversation test stories, failing on any error."""

from __future__ import annotations

import subprocess
import sys

from bot.settings import REPO_ROOT, Settings


def main() -> int:
    model = Settings.from_env().model_path()
    return subprocess.call(
        [
            sys.executable, "-m", "rasa", "test", "core",
            "--model", str(model),
            "--stories", str(REPO_ROOT / "tests" / "stories"),
            "--out", str(REPO_ROOT / "results" / "stories"),
            "--fail-on-prediction-errors",
        ],
        cwd=REPO_ROOT,
    )


if __name__ == "__main__":
    sys.exit(main())
