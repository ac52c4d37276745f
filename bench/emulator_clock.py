"""Speed-up of emulator fix 3 (`fix_sqs_clock`): moto's SQS with and without the cheap clock.

One process, one moto `ThreadedMotoServer` on a free loopback port, started with fixes 1 and 2 only.
Every measurement runs on a fresh queue, once with moto's own clock ("unfixed") and once with fix 3
("fixed"), unfixed first, then fixed:

  send@D   msgs/s   SendMessageBatch of 10: 50 messages sent around depth D (0 -> 50 for D=0)
  gqa@D    ms/call  GetQueueAttributes(ApproximateNumberOfMessages) at depth D, median of 10 calls
  drain@D  msgs/s   ReceiveMessage(10) + DeleteMessageBatch: 50 messages drained around depth D
  drain@all msgs/s  the same, over the whole drain of the ~900 (925) messages

send and gqa come from alternating (unfixed, fixed) rounds, 3 by default while a ~2 minute budget
allows, and the table shows their median. The drain is one full drain per clock: unfixed it takes
about a minute on a slow 2-core box, so it is not repeated.

The clock is swapped live: fix 3 replaces `moto.sqs.models.unix_time_millis`, and the unfixed runs
put moto's original (`moto.core.utils.unix_time_millis`) back. To keep the run short, the untimed
filling up to each depth always runs with the fixed clock: both clocks give the same instant, so the
queue left behind is the same; only the timed windows and the drain run with the clock under test.

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
from collections.abc import Iterator
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

from txnalert_cli.local.emulator import LOOPBACK  # noqa: E402
from txnalert_cli.local.moto_fixes import (  # noqa: E402
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


def drain_to(sqs: Any, url: str, left: int, target: int) -> int:
    """Receive 10 + DeleteMessageBatch until at most `target` messages are left; returns how many are."""
    empty = 0
    while left > target:
        resp = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(BATCH, left - target), WaitTimeSeconds=0, VisibilityTimeout=60
        )
        msgs = resp.get("Messages", [])
        if not msgs:
            empty += 1
            if empty == 3:
                raise RuntimeError(f"receive came back empty with {left} messages expected")
            continue
        entries = [{"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(msgs)]
        out = sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        if out.get("Failed"):
            raise RuntimeError(f"delete failed: {out['Failed'][:1]}")
        left -= len(msgs)
    return left


def windows(depths: list[int], window: int) -> list[tuple[int, int, int]]:
    """(depth, low, high): the window of messages around each depth, clipped at 0."""
    return [(d, max(0, d - window // 2), max(0, d - window // 2) + window) for d in depths]


def new_queue(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName=f"bench-clock-{uuid.uuid4().hex[:12]}")["QueueUrl"])


def window_round(sqs: Any, fixed: bool, depths: list[int], window: int, gqa_calls: int) -> dict[str, float]:
    """send@D and gqa@D on a fresh queue with the clock under test; untimed filling with the fast clock."""
    url = new_queue(sqs)
    out: dict[str, float] = {}
    try:
        current = 0
        for d, low, high in windows(depths, window):
            with clock(fixed=True):  # untimed filling: fast clock, same queue state
                send(sqs, url, low - current)
            with clock(fixed):
                out[f"gqa@{d}"] = gqa_ms(sqs, url, gqa_calls)
                t0 = time.perf_counter()
                send(sqs, url, high - low)
                out[f"send@{d}"] = (high - low) / (time.perf_counter() - t0)
            current = high
    finally:
        sqs.delete_queue(QueueUrl=url)  # deleting is cheap; draining is what full_drain measures
    return out


def full_drain(sqs: Any, fixed: bool, depths: list[int], window: int) -> dict[str, float]:
    """Fill a fresh queue (fast clock) to the top window's end, then time draining all of it with the
    clock under test: drain@all over the whole drain, drain@D over the window around each depth."""
    spans = windows(depths, window)
    top = spans[-1][2]
    url = new_queue(sqs)
    out: dict[str, float] = {}
    try:
        with clock(fixed=True):
            send(sqs, url, top)
        if depth(sqs, url) != top:
            raise RuntimeError("queue not filled")
        marks: dict[int, float] = {}
        left = top
        with clock(fixed):
            marks[left] = time.perf_counter()
            for target in sorted({b for _, low, high in spans for b in (low, high)} - {top}, reverse=True):
                left = drain_to(sqs, url, left, target)
                marks[left] = time.perf_counter()
        if depth(sqs, url) != 0:
            raise RuntimeError("queue not empty after the drain")
        out["drain@all"] = top / (marks[0] - marks[top])
        for d, low, high in spans:
            out[f"drain@{d}"] = (high - low) / (marks[low] - marks[high])
        out["_top"] = top
    finally:
        sqs.delete_queue(QueueUrl=url)
    return out


def warm_up(sqs: Any) -> None:
    """First calls load botocore models and moto backends: keep that out of the first round."""
    url = new_queue(sqs)
    try:
        for fixed in (False, True):
            with clock(fixed):
                send(sqs, url, 20)
                gqa_ms(sqs, url, 3)
                drain_to(sqs, url, 20, 0)
    finally:
        sqs.delete_queue(QueueUrl=url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="depths 0, 100, 300 and one round")
    parser.add_argument("--rounds", type=int, default=None, help="(unfixed, fixed) send/gqa rounds [full: 3]")
    parser.add_argument("--budget", type=float, default=115.0, help="skip further rounds past this many seconds")
    args = parser.parse_args()
    depths = [0, 100, 300] if args.quick else [0, 300, 900]
    window = 50
    rounds = args.rounds or (1 if args.quick else 3)
    gqa_calls = 10

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
    print(f"moto {moto.__version__} ThreadedMotoServer on {host}:{port}; depths {depths}, windows of {window} msgs")

    label = {False: "unfixed", True: "fixed"}
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    drains: dict[bool, dict[str, float]] = {}
    started = time.perf_counter()
    try:
        warm_up(sqs)
        for fixed in (False, True):
            t0 = time.perf_counter()
            drains[fixed] = full_drain(sqs, fixed, depths, window)
            took = time.perf_counter() - t0
            print(f"  full drain of {drains[fixed]['_top']:.0f} {label[fixed]:>7}: {took:5.1f} s")
        for r in range(rounds):
            round_started = time.perf_counter()
            for fixed in (False, True):
                t0 = time.perf_counter()
                results[fixed].append(window_round(sqs, fixed, depths, window, gqa_calls))
                print(f"  window round {r + 1} {label[fixed]:>7}: {time.perf_counter() - t0:5.1f} s")
            took = time.perf_counter() - round_started
            if r + 1 < rounds and time.perf_counter() - started + took > args.budget:
                print(f"  stopping after {r + 1} round(s): another would pass the {args.budget:.0f} s budget")
                break
    finally:
        server.stop()
        set_clock(False)

    n = len(results[True])
    total = time.perf_counter() - started
    print(f"\nsend/gqa: median of {n} round(s) each; drain: 1 full drain each; total {total:.1f} s\n")
    print(f"{'metric':<14}{'unit':<9}{'unfixed':>9}{'fixed':>9}{'fixed/unfixed':>15}   issue reported")

    def row(key: str, unit: str, u: float, f: float) -> None:
        speedup = u / f if unit == "ms/call" else f / u
        note = ISSUE.get(key) or (ISSUE["send"] if key.startswith("send@") else "")
        print(f"{key:<14}{unit:<9}{u:>9.1f}{f:>9.1f}{speedup:>14.1f}x   {note}")

    for prefix, unit in (("send", "msgs/s"), ("gqa", "ms/call")):
        for d in depths:
            key = f"{prefix}@{d}"
            unfixed = statistics.median(x[key] for x in results[False])
            row(key, unit, unfixed, statistics.median(x[key] for x in results[True]))
    for key in [f"drain@{d}" for d in depths] + ["drain@all"]:
        row(key, "msgs/s", drains[False][key], drains[True][key])
    print("\nfixed/unfixed is the speed-up: throughput fixed/unfixed, latency unfixed/fixed.")
    print(f"send@D / drain@D: {window} messages sent / drained around depth D (from 0 for D=0);")
    top = drains[True]["_top"]
    print(f"gqa@D: median of {gqa_calls} calls at depth D; drain@all: the whole drain of {top:.0f} messages.")


if __name__ == "__main__":
    main()
