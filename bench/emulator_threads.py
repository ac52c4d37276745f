"""What emulator fix 4 (`fix_sqs_thread_safety`) buys: drain and redrive with 4 threads on moto's SQS.

Each mode runs its own emulator process (a ThreadedMotoServer on a free loopback port, as `txnalert local
up` runs it): "unfixed" with fixes 1-3 only, "fixed" with all four. This process is the client, as
`txnalert drain` is, and runs txnalert's own code against it:

  drain N    `drain.drain` of a fresh queue of N messages into an archive, 4 threads
  redrive N  `redrive.manual_move` of a fresh DLQ of N messages to a fresh main queue, 4 threads

Both run with a short visibility timeout (--visibility, 10 s; the CLI's is 60 s), then the script waits
it out (plus 2 s) and counts, with GetQueueAttributes:

  in flight   messages in flight on the source right after the run (the ones that will come back)
  reappeared  messages visible on the source again after the visibility timeout (the run had reported
              every message it received as deleted)
  dup lines   archive lines whose message id is on an earlier line (a message archived twice)
  left        messages on the source after the wait (visible + in flight + delayed)
  dest extra  redrive: messages on the main queue beyond the N moved (a message sent twice)

Seeding always runs with SendMessageBatch on one thread. Counts vary from run to run unfixed (it is a
race); --rounds repeats each measurement. Nothing here asserts: it prints counts and ratios.

Run: python bench/emulator_threads.py [--quick] [--sizes 2000,10000] [--rounds N] [--visibility S]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

for _name, _value in (
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
):
    os.environ.setdefault(_name, _value)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

THREADS = 4
BATCH = 10


def serve(port: int, fixed: bool) -> None:
    """The emulator process: fixes 1-3, and fix 4 when `fixed`; serves until killed."""
    import logging

    from moto.server import ThreadedMotoServer

    from txnalert_cli.local import emulator, moto_fixes

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    moto_fixes.fix_lambda_without_docker()
    moto_fixes.fix_docker_client_property()
    moto_fixes.fix_sqs_clock()
    if fixed:
        moto_fixes.fix_sqs_thread_safety()
    server = ThreadedMotoServer(ip_address=emulator.LOOPBACK, port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(fixed: bool) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    args = [sys.executable, __file__, "--serve", str(port)] + (["--fixed"] if fixed else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("the emulator process did not start")
    return proc, f"http://127.0.0.1:{port}"


def client(url: str) -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "sqs",
        endpoint_url=url,
        config=BotoConfig(
            retries={"mode": "standard", "max_attempts": 3}, read_timeout=40, max_pool_connections=THREADS + 2
        ),
    )


def seed(sqs: Any, url: str, n: int) -> None:
    from emulator_clock import body  # the same transaction-sized bodies

    for start in range(0, n, BATCH):
        entries = [{"Id": str(j), "MessageBody": body(start + j)} for j in range(min(BATCH, n - start))]
        if sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed"):
            raise RuntimeError("seeding failed")


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(a["ApproximateNumberOfMessages"]),
        int(a["ApproximateNumberOfMessagesNotVisible"]),
        int(a["ApproximateNumberOfMessagesDelayed"]),
    )


def new_queue(sqs: Any, prefix: str) -> str:
    return str(sqs.create_queue(QueueName=f"{prefix}-{uuid.uuid4().hex[:10]}")["QueueUrl"])


def run_drain(sqs: Any, n: int, visibility: int, workdir: Path) -> dict[str, float]:
    from txnalert_cli.queue.drain import Archive, drain

    url = new_queue(sqs, "bench-drain")
    seed(sqs, url, n)
    path = workdir / f"{uuid.uuid4().hex}.jsonl"
    archive = Archive.open(path)
    t0 = time.perf_counter()
    try:
        result = drain(sqs, url, "bench", archive, threads=THREADS, visibility_timeout=visibility)
    finally:
        archive.close()
    took = time.perf_counter() - t0
    _, in_flight, _ = counts(sqs, url)
    time.sleep(visibility + 2)
    visible, still, delayed = counts(sqs, url)
    ids = [json.loads(line)["message_id"] for line in path.read_text().splitlines() if line.strip()]
    path.unlink()
    sqs.delete_queue(QueueUrl=url)
    return {
        "reported": result.consumed.deleted,
        "lines": len(ids),
        "dup lines": len(ids) - len(set(ids)),
        "in flight": in_flight,
        "reappeared": visible,
        "left": visible + still + delayed,
        "s": took,
    }


def run_redrive(sqs: Any, n: int, visibility: int) -> dict[str, float]:
    from txnalert_cli.queue.redrive import manual_move

    dlq, main = new_queue(sqs, "bench-dlq"), new_queue(sqs, "bench-main")
    seed(sqs, dlq, n)
    t0 = time.perf_counter()
    result = manual_move(sqs, dlq, main, fifo=False, threads=THREADS, visibility_timeout=visibility)
    took = time.perf_counter() - t0
    _, in_flight, _ = counts(sqs, dlq)
    time.sleep(visibility + 2)
    visible, still, delayed = counts(sqs, dlq)
    on_main = sum(counts(sqs, main))
    for url in (dlq, main):
        sqs.delete_queue(QueueUrl=url)
    return {
        "reported": result.deleted,
        "in flight": in_flight,
        "reappeared": visible,
        "left": visible + still + delayed,
        "dest extra": on_main - n,
        "s": took,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 messages only, one round")
    parser.add_argument("--sizes", default="2000,10000", help="drain sizes, comma-separated [2000,10000]")
    parser.add_argument("--redrive", type=int, default=2000, help="redrive size [2000]")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each run this many times [1]")
    parser.add_argument("--visibility", type=int, default=10, help="visibility timeout of the runs, s [10]")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fixed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.fixed)
        return
    sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    import moto

    print(
        f"moto {moto.__version__}; {THREADS} threads; visibility timeout {args.visibility} s; "
        f"{args.rounds} round(s) per run"
    )
    rows: list[tuple[str, str, dict[str, float]]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for fixed in (False, True):
            mode = "fixed" if fixed else "unfixed"
            proc, url = start_emulator(fixed)
            try:
                sqs = client(url)
                for _ in range(args.rounds):
                    for n in sizes:
                        row = run_drain(sqs, n, args.visibility, Path(tmp))
                        rows.append((mode, f"drain {n}", row))
                        print(f"  {mode:>7} drain {n}: {row}", flush=True)
                    if args.redrive:
                        row = run_redrive(sqs, args.redrive, args.visibility)
                        rows.append((mode, f"redrive {args.redrive}", row))
                        print(f"  {mode:>7} redrive {args.redrive}: {row}", flush=True)
            finally:
                proc.kill()
                proc.wait()
    print(f"\ntotal {time.perf_counter() - started:.0f} s\n")
    keys = ["reported", "lines", "dup lines", "in flight", "reappeared", "left", "dest extra", "s"]
    print(f"{'mode':<9}{'run':<15}" + "".join(f"{k:>12}" for k in keys) + f"{'msgs/s':>10}")
    for mode, run, row in rows:
        cells = "".join(f"{('-' if k not in row else f'{row[k]:.1f}' if k == 's' else int(row[k])):>12}" for k in keys)
        n = int(run.split()[1])
        print(f"{mode:<9}{run:<15}{cells}{n / row['s']:>10.0f}")
    print("\nreported: messages the run counted as deleted; msgs/s: N / wall time of the run.")


if __name__ == "__main__":
    main()
