"""send-test's client cost per message: txnalert's Sender against the plainest boto3 loop.

The emulator runs in its own process (`python -m txnalert_cli.local.emulator --port P`, fixes applied), so
`time.process_time()` of this process is the client's CPU only (every thread of it); the emulator's
CPU is read from /proc for context. Each run sends N generated transactions
(`transactions.generate(GenerateOptions(count=N))`) to a new queue, deleted afterwards:

  baseline   one `send_message` per transaction (body + the same message attributes), one thread
  sender t=1 `sending.Sender` (SendMessageBatch of 10), threads=1, its client built as send-test does
  sender t=4 the same with threads=4
  generate   only iterating the generator: the part of the client cost that is not SQS

Runs alternate baseline, t=1, t=4 for several rounds; the table shows medians and the ratios to the
baseline. A second part sends N=500 and N=5,000 once each (tracemalloc on) and prints the peak RSS
growth (resource.getrusage) and the tracemalloc peak, to show memory does not grow with the count.

Run: python bench/send_test.py [--quick] [--count N] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

for _name, _value in (
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
):
    os.environ.setdefault(_name, _value)

from txnalert_cli.aws import Aws  # noqa: E402
from txnalert_cli.config import builtin_example  # noqa: E402
from txnalert_cli.handler.contract import message_attributes  # noqa: E402
from txnalert_cli.local.emulator import LOOPBACK, answers  # noqa: E402
from txnalert_cli.queue import sending, transactions  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    sent: int
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float
    api_calls: int

    @property
    def rate(self) -> float:
        return self.sent / self.wall_s

    @property
    def cpu_us(self) -> float:
        return self.client_cpu_s / self.sent * 1e6

    @property
    def server_us(self) -> float:
        return self.server_cpu_s / self.sent * 1e6

    @property
    def calls(self) -> float:
        return self.api_calls / self.sent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "txnalert_cli.local.emulator", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + 60
    while not answers(url, timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"the emulator did not start on {url}")
        time.sleep(0.1)
    return proc, url


def server_cpu(pid: int) -> float:
    """The emulator process's CPU seconds (user + system), 0 where /proc is missing."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return 0.0
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def sqs_client(url: str, threads: int) -> Any:
    """The client send-test builds: txnalert's Aws, pool sized threads + 2; warmed by one call."""
    config = builtin_example().with_overrides(region="us-east-1", endpoint_url=url)
    sqs = Aws.from_config(config, max_pool_connections=threads + 2).client("sqs")
    sqs.list_queues()
    return sqs


def measure(pid: int, body: Callable[[], tuple[int, int]]) -> Run:
    """Time body() (returns sent, api calls): wall, this process's CPU, the emulator's CPU."""
    s0, c0, w0 = server_cpu(pid), time.process_time(), time.perf_counter()
    sent, calls = body()
    w1, c1, s1 = time.perf_counter(), time.process_time(), server_cpu(pid)
    return Run(sent=sent, wall_s=w1 - w0, client_cpu_s=c1 - c0, server_cpu_s=s1 - s0, api_calls=calls)


def run_sender(sqs: Any, pid: int, n: int, threads: int) -> Run:
    def fn(url: str) -> tuple[int, int]:
        sender = sending.Sender(sqs, url, fifo=False, threads=threads)
        result = sender.send(transactions.generate(transactions.GenerateOptions(count=n)), n)
        if result.failed or result.sent != n:
            raise RuntimeError(f"sender: sent {result.sent}, failed {result.failed}: {result.errors[:1]}")
        return result.sent, result.api_calls

    # Queue create/delete are outside the timing: measure() wraps only the send.
    url = sqs.create_queue(QueueName=f"bench-send-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    try:
        return measure(pid, lambda: fn(url))
    finally:
        sqs.delete_queue(QueueUrl=url)


def run_baseline(sqs: Any, pid: int, n: int) -> Run:
    def fn(url: str) -> tuple[int, int]:
        calls = 0
        for txn in transactions.generate(transactions.GenerateOptions(count=n)):
            sqs.send_message(QueueUrl=url, MessageBody=txn.to_body(), MessageAttributes=message_attributes(txn))
            calls += 1
        return calls, calls

    url = sqs.create_queue(QueueName=f"bench-send-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    try:
        return measure(pid, lambda: fn(url))
    finally:
        sqs.delete_queue(QueueUrl=url)


def run_generate(pid: int, n: int) -> Run:
    def fn() -> tuple[int, int]:
        return sum(1 for _ in transactions.generate(transactions.GenerateOptions(count=n))), 0

    return measure(pid, fn)


def maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def memory_part(url: str, pid: int, counts: list[int]) -> None:
    sqs = sqs_client(url, 4)
    print(f"\nmemory: Sender threads=4, N = {', '.join(f'{c:,}' for c in counts)} (one run each)")
    rss, peaks = [], []
    for n in counts:
        before = maxrss_kib()
        tracemalloc.start()
        run_sender(sqs, pid, n, 4)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        rss.append((before, maxrss_kib() - before))
    print(f"{'N':>7}{'peak RSS before':>18}{'RSS growth':>13}{'tracemalloc peak':>19}")
    for n, (before, growth), peak in zip(counts, rss, peaks, strict=True):
        print(f"{n:>7,}{before:>14,} KiB{growth:>9,} KiB{peak / 1024:>15,.0f} KiB")
    extra = (peaks[-1] - peaks[0]) / (counts[-1] - counts[0])
    print(f"tracemalloc peak per extra message: {extra:.0f} B ({counts[0]:,} -> {counts[-1]:,})")
    print("RSS growth: ru_maxrss after the send minus before (tracemalloc on, its bookkeeping included).")
    print("tracemalloc peak: the most Python memory held during the send; it includes")
    print("SendResult.transaction_ids, the one list that grows with N.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=500, one round, memory at 500 and 2,000")
    parser.add_argument("--count", type=int, default=None, help="messages per run [2,000; quick 500]")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of (baseline, t=1, t=4) [2; quick 1]")
    parser.add_argument("--budget", type=float, default=75.0, help="skip further rounds past this many seconds")
    args = parser.parse_args()
    n = args.count or (500 if args.quick else 2000)
    rounds = args.rounds or (1 if args.quick else 2)
    mem_counts = [500, 2000] if args.quick else [500, 5000]

    proc, url = start_emulator()
    pid = proc.pid
    started = time.perf_counter()
    try:
        clients = {0: sqs_client(url, 1), 1: sqs_client(url, 1), 4: sqs_client(url, 4)}
        run_sender(clients[1], pid, 50, 1)  # warm-up: first batches, imports, connections
        run_baseline(clients[0], pid, 20)
        print(f"emulator pid {pid} at {url}; N={n:,} per run, queue new per run")
        runs: dict[str, list[Run]] = {"baseline": [], "sender t=1": [], "sender t=4": [], "generate": []}
        for r in range(rounds):
            t0 = time.perf_counter()
            runs["baseline"].append(run_baseline(clients[0], pid, n))
            runs["sender t=1"].append(run_sender(clients[1], pid, n, 1))
            runs["sender t=4"].append(run_sender(clients[4], pid, n, 4))
            runs["generate"].append(run_generate(pid, n))
            took = time.perf_counter() - t0
            print(f"  round {r + 1}: {took:5.1f} s")
            if r + 1 < rounds and time.perf_counter() - started + took > args.budget:
                print(f"  stopping after {r + 1} round(s): another would pass the {args.budget:.0f} s budget")
                break

        def med(name: str, attr: str) -> float:
            return statistics.median(getattr(x, attr) for x in runs[name])

        print(f"\nmedian of {len(runs['baseline'])} round(s); CPU = this process (all threads), µs per message\n")
        head = f"{'run':<12}{'wall s':>8}{'msgs/s':>9}{'calls/msg':>11}{'client CPU':>12}{'server CPU':>12}"
        print(head + f"{'CPU/base':>10}{'calls/base':>12}")
        base_cpu, base_calls = med("baseline", "cpu_us"), med("baseline", "calls")
        for name in runs:
            cpu, calls = med(name, "cpu_us"), med(name, "calls")
            rate = f"{med(name, 'rate'):>9.0f}"
            ratio_calls = f"{calls / base_calls:>12.2f}" if calls else f"{'-':>12}"
            print(
                f"{name:<12}{med(name, 'wall_s'):>8.2f}{rate}{calls:>11.2f}{cpu:>9.0f} µs"
                f"{med(name, 'server_us'):>9.0f} µs{cpu / base_cpu:>10.2f}{ratio_calls}"
            )
        print("\nclient CPU includes generating the transactions (the 'generate' row alone);")
        print("server CPU is the emulator process (moto), for context only.")
        memory_part(url, pid, mem_counts)
        print(f"\ntotal {time.perf_counter() - started:.1f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
