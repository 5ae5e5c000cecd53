"""`make bench`: concurrent scripted booking conversations over REST, against this assistant
and, in the same run on the same machine, against a stock `rasa init` assistant.

Prints p50/p95 latency, messages/s and peak RSS for both and their ratio, plus the latency
of message 5 vs message 200 of one long conversation. Numbers from a shared machine are only
comparable as ratios taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List

import psutil

from actions.practice.seed import DEMO_PATIENT
from tests.harness import REPO_ROOT, RunningAssistant


def booking_script() -> List[str]:
    dob = DEMO_PATIENT[1]
    return [
        "hi", "I'd like to book an appointment", DEMO_PATIENT[0],
        f"{dob.month:02d}/{dob.day:02d}/{dob.year}", "1", "no preference",
        "next week afternoon", "none of these", "1", "yes", "thanks, bye",
    ]


class RssSampler(threading.Thread):
    """Peak resident memory of a process tree, sampled every 100 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                procs = [self.root] + self.root.children(recursive=True)
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)


def drive(say: Callable[[str, str], None], conversations: int, concurrency: int) -> Dict[str, float]:
    latencies: List[float] = []
    lock = threading.Lock()

    def one() -> None:
        sender = uuid.uuid4().hex
        for message in booking_script():
            start = time.perf_counter()
            say(sender, message)
            with lock:
                latencies.append((time.perf_counter() - start) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(one) for _ in range(conversations)]:
            future.result()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "messages": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
        "msgs_per_s": len(latencies) / elapsed,
    }


def long_conversation(say: Callable[[str, str], None], length: int = 200) -> Dict[str, float]:
    sender = uuid.uuid4().hex
    timings = {}
    for i in range(1, length + 1):
        start = time.perf_counter()
        say(sender, "what are your hours?" if i % 2 else "hello")
        if i in (5, length):
            timings[f"msg{i}_ms"] = (time.perf_counter() - start) * 1000
    return timings


def start_stock_rasa(workdir: Path, port: int) -> subprocess.Popen:
    py = sys.executable
    if not list((workdir / "models").glob("*.tar.gz")):
        subprocess.run([py, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(workdir)],
                       check=True, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen([py, "-m", "rasa", "run", "--port", str(port), "--enable-api"],
                            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    import urllib.request
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:
                if json.loads(r.read()).get("model_file"):
                    return proc
        except OSError:
            time.sleep(1)
    proc.kill()
    raise RuntimeError("stock rasa did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--stock-dir", default=str(REPO_ROOT / "var" / "bench-stock-rasa"))
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ours = RunningAssistant(Path(tmp), port=5205, actions_port=5255).start()
        sampler = RssSampler(ours.proc.pid)
        sampler.start()
        try:
            results["clinic"] = drive(ours.say, args.conversations, args.concurrency)
            results["clinic"].update(long_conversation(ours.say))
        finally:
            sampler.running = False
            results["clinic"]["peak_rss_mb"] = sampler.peak / 2**20
            ours.stop()

    stock_dir = Path(args.stock_dir)
    stock_dir.mkdir(parents=True, exist_ok=True)
    stock = start_stock_rasa(stock_dir, 5305)
    sampler = RssSampler(stock.pid)
    sampler.start()
    stock_client = RunningAssistant(stock_dir, port=5305)
    try:
        results["stock"] = drive(stock_client.say, args.conversations, args.concurrency)
        results["stock"].update(long_conversation(stock_client.say))
    finally:
        sampler.running = False
        results["stock"]["peak_rss_mb"] = sampler.peak / 2**20
        stock.terminate()
        stock.wait(timeout=30)

    keys = ["messages", "p50_ms", "p95_ms", "msgs_per_s", "peak_rss_mb", "msg5_ms", "msg200_ms"]
    print(f"{'metric':<14}{'clinic':>12}{'stock rasa':>14}{'ratio':>10}")
    for key in keys:
        a, b = results["clinic"][key], results["stock"][key]
        print(f"{key:<14}{a:>12.1f}{b:>14.1f}{(a / b if b else float('nan')):>10.2f}")
    print(f"machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB; "
          f"{args.conversations} conversations x {len(booking_script())} messages, "
          f"concurrency {args.concurrency}")


if __name__ == "__main__":
    main()
