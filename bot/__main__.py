"""Launcher: `python -m bot run` starts the action server and the Rasa server together.

Both run as child processes. Ctrl-C (SIGINT) or SIGTERM stops both cleanly; if either
exits on its own, that is reported and the other is stopped, so a half-running assistant
never sits there looking healthy. `python -m bot shell` chats in the terminal.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Dict, List

from bot.settings import REPO_ROOT, Settings, keep_files_private


def _child_env(settings: Settings) -> Dict[str, str]:
    env = dict(os.environ)
    env.setdefault("VAR_DIR", str(settings.var_dir))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    # Rasa's usage telemetry would call out to the internet; a clinic's server must not.
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


# The health checks are on loopback: an http_proxy setting (a corporate proxy without
# no_proxy) must not send them to the proxy, which cannot reach our 127.0.0.1.
_LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_for_http(url: str, procs: List[subprocess.Popen], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            with _LOOPBACK_OPENER.open(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def _stop(procs: List[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(foreground_rasa: List[str] | None = None) -> int:
    settings = Settings.from_env()
    settings.model_path()  # fail early, with instructions, when nothing is trained
    settings.check_redis()  # and when REDIS_URL is set but Redis does not answer
    keep_files_private(settings.var_dir)  # the children inherit the umask
    env = _child_env(settings)
    python = sys.executable

    actions = subprocess.Popen([python, "-m", "actions.server"], env=env, cwd=REPO_ROOT)
    procs = [actions]
    stopping = False

    def handle_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    # Ctrl-C, a service manager stopping us, or the terminal closing: stop both cleanly.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handle_signal)

    if not _wait_for_http(f"http://127.0.0.1:{settings.actions_port}/health", procs, 120):
        print("The action server did not start; see its output above.", file=sys.stderr)
        _stop(procs)
        return 1

    rasa_cmd = foreground_rasa or [python, "-m", "bot.server"]
    rasa = subprocess.Popen(rasa_cmd, env=env, cwd=REPO_ROOT)
    procs.append(rasa)
    names = {actions.pid: "action server", rasa.pid: "Rasa server"}
    if foreground_rasa is None:
        print(f"Starting the clinic assistant on http://localhost:{settings.port}/ ...", flush=True)

    exit_code = 0
    while not stopping:
        for proc in procs:
            code = proc.poll()
            if code is not None:
                if proc is rasa and foreground_rasa is not None:
                    stopping = True  # the terminal chat ended normally
                    break
                print(
                    f"The {names[proc.pid]} stopped unexpectedly (exit code {code}; "
                    "its output above says why); stopping the assistant.",
                    file=sys.stderr,
                    flush=True,
                )
                exit_code = 1
                stopping = True
                break
        time.sleep(0.3)

    _stop(procs)
    if exit_code == 0 and foreground_rasa is None:
        print("Clinic assistant stopped.", flush=True)
    return exit_code


def shell() -> int:
    settings = Settings.from_env()
    endpoints = settings.write_endpoints()
    cmd = [
        sys.executable, "-m", "rasa", "shell",
        "--model", str(settings.model_path()),
        "--endpoints", str(endpoints),
        "--port", str(settings.port),
    ]
    return run(foreground_rasa=cmd)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("command", choices=["run", "shell"])
    args = parser.parse_args()
    sys.exit(run() if args.command == "run" else shell())


if __name__ == "__main__":
    main()
