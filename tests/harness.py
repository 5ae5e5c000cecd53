"""Start the assistant exactly as `make run` does (python -m bot run) and talk to it over REST.

Used by the end-to-end tests, the leak test and the benchmark.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent


class RunningAssistant:
    def __init__(self, var_dir: Path, port: int = 5105, actions_port: int = 5155,
                 env: Optional[Dict[str, str]] = None, log_level: str = "INFO"):
        self.var_dir = Path(var_dir)
        self.port = port
        self.actions_port = actions_port
        self.base = f"http://127.0.0.1:{port}"
        self.env = dict(os.environ)
        self.env.update({
            "VAR_DIR": str(self.var_dir),
            "PORT": str(port),
            "ACTIONS_PORT": str(actions_port),
            "LOG_LEVEL": log_level,
            "PYTHONPATH": str(REPO_ROOT),
            "RASA_TELEMETRY_ENABLED": "false",
        })
        self.env.update(env or {})
        self.stdout_path = self.var_dir / "assistant.stdout.log"
        self.stderr_path = self.var_dir / "assistant.stderr.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 240) -> "RunningAssistant":
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=REPO_ROOT, env=self.env,
            stdout=self._out, stderr=self._err, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"assistant exited early ({self.proc.returncode}); see {self.stderr_path}")
            try:
                status = self.get_json("/status")
                if status.get("model_file"):
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"assistant did not become ready in {timeout}s; see {self.stderr_path}")

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for handle in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if handle:
                handle.close()
        return self.proc.returncode if self.proc else 0

    def get_json(self, path: str) -> dict:
        with urllib.request.urlopen(self.base + path, timeout=10) as resp:
            return json.loads(resp.read())

    def post(self, path: str, body: bytes, content_type: str = "application/json",
             timeout: float = 60) -> tuple:
        request = urllib.request.Request(self.base + path, data=body, method="POST",
                                         headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def say(self, sender: str, message: str) -> List[dict]:
        status, body = self.post("/webhooks/rest/webhook",
                                 json.dumps({"sender": sender, "message": message}).encode())
        assert status == 200, (status, body[:300])
        return json.loads(body)

    def parse(self, text: str) -> dict:
        status, body = self.post("/model/parse", json.dumps({"text": text}).encode())
        assert status == 200, (status, body[:300])
        return json.loads(body)


def texts(replies: List[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def buttons(replies: List[dict]) -> List[dict]:
    return [b for r in replies for b in r.get("buttons", [])]
