"""Speed-up of emulator fix 3 (`fix_sqs_clock`): moto's SQS with and without the cheap clock.

One process, one moto `ThreadedMotoServer` on a free loopback port, started with fixes 1 and 2 only.
Each round runs the same measurements on a fresh queue, once with moto's own clock ("unfixed") and
once with fix 3 ("fixed"); rounds alternate unfixed/fixed and the table reports the median over rounds:

  send  msgs/s  SendMessageBatch of 10, a window of messages sent starting at each depth
  gqa   ms/call GetQueueAttributes(ApproximateNumberOfMessages) at each depth
  drain msgs/s  ReceiveMessage(10) + DeleteMessageBatch, the window of messages drained down to each
                depth, and the whole drain of the ~900 messages ("all")

The clock is swapped live: fix 3 replaces `moto.sqs.models.unix_time_millis`, and the unfixed rounds
put moto's original (`moto.core.utils.unix_time_millis`) back. To keep the run short, the untimed
filling between depths always runs with the fixed clock: both clocks give the same instant, so the
queue left behind is the same; only the timed windows and the drain see the clock under test.

Run: python bench/emulator_clock.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

for _name, _value in (
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
):
    os.environ.setdefault(_name, _value)

import boto3  # noqa: E402
import moto.core.utils  # noqa: E402
import moto.sqs.models as sqs_models  # noqa: E402
from botocore.config import Config as BotoConfig  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from txnalert_cli.emulator import (  # noqa: E402
    LOOPBACK,
    fix_docker_client_property,
    fix_lambda_without_docker,
    fix_sqs_clock,
)

ORIGINAL_CLOCK = moto.core.utils.unix_time_millis
BATCH = 10
# What the issue reported (its depth for the send and drain rates was not given).
ISSUE = {
    "gqa@0": "about 2 ms (unfixed)",
    "gqa@900": "31 ms (unfixed)",
    "send": "60 -> 755 msgs/s",
    "drain@all": "24 -> 281 msgs/s",
}


def set_clock(fixed: bool) -> None:
    """Put fix 3 in place, or moto's original clock back; both live, in this process."""
    if fixed:
        fix_sqs_clock()
    else:
        sqs_models.unix_time_millis = ORIGINAL_CLOCK
    is_fixed = bool(getattr(sqs_models.unix_time_millis, "_txnalert_fixed", False))
    if is_fixed != fixed:
        raise RuntimeError(f"clock swap failed: wanted fixed={fixed}, got {sqs_models.unix_time_millis!r}")


@contextmanager
def clock(fixed: bool) -> Iterator[None]:
    previous = bool(getattr(sqs_models.unix_time_millis, "_txnalert_fixed", False))
    set_clock(fixed)
    try:
        yield
    finally:
        set_clock(previous)


def body(i: int) -> str:
    # About the size of a txnalert transaction body.
    return json.dumps(
        {
            "schema_version": 1,
            "transaction_id": f"txn-{uuid.uuid4().hex}",
            "account_id": f"{1_000_000_000 + i}",
            "type": "deposit",
            "amount": "123.45",
            "currency": "USD",
            "email": "success@simulator.amazonses.com",
            "occurred_at": "2025-01-01T00:00:00Z",
        }
    )


def send(sqs: Any, url: str, n: int) -> None:
    """Send n messages with SendMessageBatch of 10."""
    sent = 0
    while sent < n:
        k = min(BATCH, n - sent)
        entries = [{"Id": str(j), "MessageBody": body(sent + j)} for j in range(k)]
        resp = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if resp.get("Failed"):
            raise RuntimeError(f"send failed: {resp['Failed'][:1]}")
        sent += k


def depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def gqa_ms(sqs: Any, url: str, calls: int) -> float:
    """Median latency of GetQueueAttributes(ApproximateNumberOfMessages), ms per call."""
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        depth(sqs, url)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def drain(sqs: Any, url: str) -> list[tuple[int, float]]:
    """Receive 10 + DeleteMessageBatch until empty; returns (messages left, time) after each step."""
    left = depth(sqs, url)
    marks = [(left, time.perf_counter())]
    empty = 0
    while left > 0 and empty < 3:
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=0, VisibilityTimeout=60)
        msgs = resp.get("Messages", [])
        if not msgs:
            empty += 1
            continue
        entries = [{"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(msgs)]
        out = sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        if out.get("Failed"):
            raise RuntimeError(f"delete failed: {out['Failed'][:1]}")
        left -= len(msgs)
        marks.append((left, time.perf_counter()))
    if left != 0:
        raise RuntimeError(f"drain stopped with {left} messages left")
    return marks


def drain_rate(marks: list[tuple[int, float]], high: int, low: int) -> float:
    """msgs/s over the drain steps that took the queue from about `high` down to about `low`."""
    start = next(i for i, (left, _) in enumerate(marks) if left <= high)
    end = next(i for i, (left, _) in enumerate(marks) if left <= low)
    start = min(start, end - 1)
    n = marks[start][0] - marks[end][0]
    return n / (marks[end][1] - marks[start][1])


def one_round(sqs: Any, fixed: bool, depths: list[int], window: int, gqa_calls: int) -> dict[str, float]:
    """All measurements on a fresh queue with the given clock; returns metric -> value."""
    url = sqs.create_queue(QueueName=f"bench-clock-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    out: dict[str, float] = {}
    try:
        current = 0
        for d in depths:
            with clock(fixed=True):  # untimed filling: fast clock, same queue state
                send(sqs, url, d - current)
            current = d
            with clock(fixed):
                out[f"gqa@{d}"] = gqa_ms(sqs, url, gqa_calls)
                t0 = time.perf_counter()
                send(sqs, url, window)
                out[f"send@{d}"] = window / (time.perf_counter() - t0)
            current += window
        with clock(fixed):
            marks = drain(sqs, url)
        total = marks[0][0]
        out["drain@all"] = total / (marks[-1][1] - marks[0][1])
        for d in depths:
            out[f"drain@{d}"] = drain_rate(marks, d + window, d)
        out["_depth_max"] = total
    finally:
        sqs.delete_queue(QueueUrl=url)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, smaller depths (0, 100, 300)")
    parser.add_argument("--rounds", type=int, default=None, help="(unfixed, fixed) round pairs [full: 2]")
    parser.add_argument("--budget", type=float, default=110.0, help="skip further rounds past this many seconds")
    args = parser.parse_args()
    depths = [0, 100, 300] if args.quick else [0, 300, 900]
    window = 50 if args.quick else 100
    rounds = args.rounds or (1 if args.quick else 2)
    gqa_calls = 10 if args.quick else 20

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if sqs_models.unix_time_millis is not ORIGINAL_CLOCK:
        raise SystemExit("moto's SQS clock is already patched in this process; this bench needs it unfixed")
    fix_lambda_without_docker()
    fix_docker_client_property()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    sqs = boto3.client(
        "sqs",
        endpoint_url=f"http://{host}:{port}",
        config=BotoConfig(retries={"mode": "standard", "max_attempts": 1}, read_timeout=120),
    )
    print(f"moto {moto.__version__} ThreadedMotoServer on {host}:{port}; depths {depths}, window {window} msgs")

    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    started = time.perf_counter()
    try:
        for r in range(rounds):
            round_started = time.perf_counter()
            for fixed in (False, True):
                t0 = time.perf_counter()
                res = one_round(sqs, fixed, depths, window, gqa_calls)
                results[fixed].append(res)
                label = "fixed" if fixed else "unfixed"
                print(f"  round {r + 1} {label:>7}: {time.perf_counter() - t0:5.1f} s, drained {res['_depth_max']}")
            took = time.perf_counter() - round_started
            if r + 1 < rounds and time.perf_counter() - started + took > args.budget:
                print(f"  stopping after {r + 1} round(s): another would pass the {args.budget:.0f} s budget")
                break
    finally:
        server.stop()
        set_clock(False)

    n = len(results[True])
    print(f"\nmedian of {n} round(s) each; total {time.perf_counter() - started:.1f} s\n")
    print(f"{'metric':<14}{'unit':<8}{'unfixed':>10}{'fixed':>10}{'fixed/unfixed':>15}   issue reported")
    rows: list[tuple[str, str, Callable[[float, float], float]]] = []
    for d in depths:
        rows.append((f"send@{d}", "msgs/s", lambda u, f: f / u))
    for d in depths:
        rows.append((f"gqa@{d}", "ms/call", lambda u, f: u / f))
    for d in depths:
        rows.append((f"drain@{d}", "msgs/s", lambda u, f: f / u))
    rows.append(("drain@all", "msgs/s", lambda u, f: f / u))
    for key, unit, speedup in rows:
        u = statistics.median(x[key] for x in results[False])
        f = statistics.median(x[key] for x in results[True])
        note = ISSUE.get(key) or (ISSUE["send"] if key.startswith("send@") else "")
        print(f"{key:<14}{unit:<8}{u:>10.2f}{f:>10.2f}{speedup(u, f):>14.1f}x   {note}")
    print("\nfixed/unfixed is the speed-up: throughput fixed/unfixed, latency unfixed/fixed.")
    print("send@D: a window of messages sent starting at depth D; drain@D: drained down to depth D.")


if __name__ == "__main__":
    main()
