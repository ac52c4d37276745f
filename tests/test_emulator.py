"""The embedded emulator: the four moto fixes (each fails loudly if moto changes under it), and
`txnalert local up|status|down` as a real detached process."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3
import pytest

from tests.conftest import moto_data
from txnalert_cli.local import moto_fixes


def _client(service: str, url: str):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def _create_function(url: str, name: str = "fn") -> None:
    iam = _client("iam", url)
    role = iam.create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    _client("lambda", url).create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": _zip()}
    )


def test_moto_is_the_pinned_minor_version() -> None:
    import moto

    assert moto.__version__.startswith(moto_fixes.MOTO_MINOR + "."), (
        f"moto {moto.__version__} is installed but the emulator fixes were written for {moto_fixes.MOTO_MINOR}.x: "
        "re-check txnalert_cli/local/moto_fixes.py and update the pin in pyproject.toml"
    )


def test_fix1_lambda_runs_without_docker(endpoint: str) -> None:
    with urllib.request.urlopen(f"{endpoint}/moto-api/config") as resp:
        assert json.loads(resp.read())["lambda"] == {"use_docker": False}
    _create_function(endpoint)
    result = _client("lambda", endpoint).invoke(FunctionName="fn", Payload=b"{}")
    assert "FunctionError" not in result  # no Docker engine here: only the Docker-less backend can answer
    assert result["StatusCode"] == 200


def test_fix2_data_json_answers_with_a_lambda_function(endpoint: str) -> None:
    from moto.utilities.docker_utilities import DockerModel

    wrapped = DockerModel.__dict__["docker_client"].fget
    assert getattr(wrapped, "_txnalert_fixed", False)
    _create_function(endpoint, "fn2")
    data = moto_data(endpoint)  # HTTP 500 without the fix
    assert any(f.get("function_name") == "fn2" for f in data["awslambda"]["LambdaFunction"])
    # What the fix relies on: the original property still raises something data.json does not tolerate
    # (no Docker engine here). If this starts passing quietly, the fix may be obsolete.
    from moto.awslambda.models import LambdaFunction

    func = next(iter(LambdaFunction.instances_tracked))  # type: ignore[attr-defined]
    original = wrapped.__closure__[0].cell_contents if wrapped.__closure__ else None
    assert callable(original)
    with pytest.raises(Exception) as info:
        original(func)
    assert not isinstance(info.value, TypeError | AttributeError | ValueError)


def test_fix3_sqs_clock_is_fast_and_still_correct(endpoint: str) -> None:
    import moto.sqs.models as sqs_models
    from moto.core.utils import unix_time_millis as original

    assert getattr(sqs_models.unix_time_millis, "_txnalert_fixed", False)
    assert abs(sqs_models.unix_time_millis() - original()) < 1000
    # Visibility still behaves: a received message is invisible, then visible again after 1 s.
    sqs = _client("sqs", endpoint)
    url = sqs.create_queue(QueueName="clock", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    assert len(sqs.receive_message(QueueUrl=url).get("Messages", [])) == 1
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    time.sleep(1.2)
    again = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert again["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_fix3_clock_is_what_sqs_calls_per_message(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """If moto stopped calling `moto.sqs.models.unix_time_millis` (and so stopped paying for it), the fix
    would be obsolete: this counts the calls SQS makes through the patched clock on a queue with messages."""
    import moto.sqs.models as sqs_models

    fixed = sqs_models.unix_time_millis
    calls = []

    def counting(dt: object = None) -> float:
        calls.append(1)
        return float(fixed(dt))

    monkeypatch.setattr(sqs_models, "unix_time_millis", counting)
    sqs = _client("sqs", endpoint)
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(10)])
    calls.clear()
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert len(calls) >= 10  # per message, per call: what made moto's SQS O(depth)


def test_fix4_sqs_calls_run_under_one_lock_and_receive_is_what_the_fix_expects() -> None:
    from moto.sqs.models import Queue, SQSBackend

    for name in (*moto_fixes.SQS_LOCKED_METHODS, "receive_message"):
        patched = getattr(SQSBackend, name)
        assert getattr(patched, "_txnalert_fixed", False), f"SQSBackend.{name} is not under fix 4"
        assert callable(patched.__wrapped__)
    import inspect

    # What the receive wrapper relies on: moto's own signature, its long-poll wait, its visible-message list.
    original = SQSBackend.receive_message.__wrapped__
    assert tuple(inspect.signature(original).parameters) == moto_fixes.SQS_RECEIVE_PARAMS
    assert tuple(inspect.signature(Queue.wait_for_messages).parameters) == ("self", "timeout")
    assert isinstance(inspect.getattr_static(Queue, "messages"), property)
    # moto's loop still waits inside the backend (the reason for the wrapper): wait_seconds_timeout is read there.
    assert "wait_for_messages" in inspect.getsource(original)


def _consume_concurrently(url: str, queue_url: str, threads: int) -> tuple[list[str], int]:
    """`threads` consumers receive 10 and DeleteMessageBatch until the queue is empty; (ids received, deletes)."""
    received: list[str] = []
    deleted = [0]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def consume() -> None:
        sqs = _client("sqs", url)
        empty = 0
        try:
            while empty < 2:
                batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
                    "Messages", []
                )
                if not batch:
                    empty += 1
                    continue
                empty = 0
                done = sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
                )
                with lock:
                    received.extend(m["MessageId"] for m in batch)
                    deleted[0] += len(done.get("Successful", []))
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    workers = [threading.Thread(target=consume) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    return received, deleted[0]


def test_fix4_concurrent_receives_and_deletes_lose_nothing(endpoint: str) -> None:
    """What moto does without fix 4: concurrent DeleteMessageBatch calls lose each other's deletes (the
    messages stay in flight, then come back), and concurrent receives hand one message to two consumers."""
    sqs = _client("sqs", endpoint)
    queue_url = sqs.create_queue(QueueName="racy")["QueueUrl"]
    total = 600
    for start in range(0, total, 10):
        sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        )
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # switch threads often: without the lock the races then show on every run
    try:
        received, deleted = _consume_concurrently(endpoint, queue_url, threads=8)
    finally:
        sys.setswitchinterval(interval)
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    left = int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
    assert (len(received) - len(set(received)), left) == (0, 0), "messages received twice, messages not deleted"
    assert len(received) == deleted == total


def test_fix4_a_long_poll_holds_no_lock_while_it_waits(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ReceiveMessage long-polling an empty queue must not block a send or a delete elsewhere: the send
    returns while the receive is still waiting, and a send to the polled queue ends its wait with the message."""
    from moto.sqs.models import Queue

    sqs = _client("sqs", endpoint)
    polled = sqs.create_queue(QueueName="polled")["QueueUrl"]
    other = sqs.create_queue(QueueName="other")["QueueUrl"]
    waiting = threading.Event()
    original_wait = Queue.wait_for_messages

    def wait_for_messages(self: Queue, timeout: float) -> None:
        if self.name == "polled":
            waiting.set()
        original_wait(self, timeout)

    monkeypatch.setattr(Queue, "wait_for_messages", wait_for_messages)
    got: list[list[dict]] = []
    receiver = threading.Thread(
        target=lambda: got.append(
            _client("sqs", endpoint).receive_message(QueueUrl=polled, WaitTimeSeconds=20).get("Messages", [])
        )
    )
    receiver.start()
    try:
        assert waiting.wait(10), "the receive never started its long poll"
        sqs.send_message(QueueUrl=other, MessageBody="elsewhere")
        handle = sqs.receive_message(QueueUrl=other)["Messages"][0]["ReceiptHandle"]
        sqs.delete_message(QueueUrl=other, ReceiptHandle=handle)
        assert receiver.is_alive(), "the send and the delete waited for the long poll to end"
    finally:
        sqs.send_message(QueueUrl=polled, MessageBody="wake up")  # ends the long poll with this message
        receiver.join(25)
    assert [m["Body"] for m in got[0]] == ["wake up"]


def test_fixes_fail_loudly_when_moto_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.sqs.models as sqs_models
    from moto.utilities.docker_utilities import DockerModel

    monkeypatch.delattr(sqs_models, "unix_time_millis")
    with pytest.raises(moto_fixes.EmulatorError, match="review emulator fix 3"):
        moto_fixes.fix_sqs_clock()
    monkeypatch.setattr(DockerModel, "docker_client", None)
    with pytest.raises(moto_fixes.EmulatorError, match="review emulator fix 2"):
        moto_fixes.fix_docker_client_property()
    from moto.sqs.models import SQSBackend

    fixed_receive = SQSBackend.receive_message
    monkeypatch.setattr(SQSBackend, "receive_message", lambda self, queue_name, count: [])
    with pytest.raises(moto_fixes.EmulatorError, match=r"receive_message no longer takes .*review emulator fix 4"):
        moto_fixes.fix_sqs_thread_safety()
    monkeypatch.setattr(SQSBackend, "receive_message", fixed_receive)
    monkeypatch.delattr(SQSBackend, "delete_message_batch")
    with pytest.raises(moto_fixes.EmulatorError, match="delete_message_batch is gone; review emulator fix 4"):
        moto_fixes.fix_sqs_thread_safety()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _txnalert(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "txnalert_cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_local_up_status_down_as_a_detached_process(tmp_path: Path) -> None:
    env = {**os.environ, "TXNALERT_STATE_DIR": str(tmp_path / "state")}
    port = _free_port()
    config = tmp_path / "c.yaml"
    config.write_text("aws: {endpoint_url: local}\nqueue: {name: localq}\n")
    try:
        first = _txnalert("local", "up", "--port", str(port), "--json", env=env)
        assert first.returncode == 0, first.stderr
        info = json.loads(first.stdout)
        assert info["running"] and info["started"] and info["url"] == f"http://127.0.0.1:{port}"
        second = _txnalert("local", "up", "--port", str(port), "--json", env=env)
        assert json.loads(second.stdout)["started"] is False
        assert json.loads(second.stdout)["pid"] == info["pid"]
        created = _txnalert("create-queue", "-c", str(config), "--json", env=env)
        assert created.returncode == 0, created.stderr
        assert [c["action"] for c in json.loads(created.stdout)["changes"]] == ["create", "create"]
        status = _txnalert("local", "status", env=env)
        assert status.returncode == 0 and f"http://127.0.0.1:{port}" in status.stdout
    finally:
        down = _txnalert("local", "down", env=env)
    assert down.returncode == 0 and f"pid {info['pid']}" in down.stdout
    after = _txnalert("inspect-queue", "-c", str(config), env=env)
    assert after.returncode == 1
    assert after.stderr.strip() == "error: the txnalert emulator is not running: run `txnalert local up`"
    assert _txnalert("local", "status", env=env).returncode == 1
