"""Config loading and validation: every problem reported, one line each, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from txnalert_cli import config as cfg
from txnalert_cli.cli import app
from txnalert_cli.errors import ConfigError

runner = CliRunner()


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        cfg.loads(text, "t.yaml")
    return info.value.problems


def test_only_queue_name_is_required_and_defaults_apply() -> None:
    c = cfg.loads("queue:\n  name: q1\n", "t.yaml")
    assert c.queue.name == "q1"
    assert c.queue.dlq.name == "q1-dlq"
    assert c.queue.dlq.max_receive_count == 5
    assert c.queue.visibility_timeout == 180
    assert c.queue.max_message_size == 262_144
    assert c.aws.region == "us-east-1" and c.aws.endpoint_url is None and c.aws.profile is None
    assert c.ses.sender == "alerts@example.com" and c.ses.identities == ("alerts@example.com",)
    assert c.lambda_.timeout == 30 and c.lambda_.batch_size == 10
    assert c.lambda_.start_margin_seconds is None and c.lambda_.start_margin_ms == 3000  # min(5 s, timeout / 10)
    assert c.idempotency.table == "txnalert-idempotency" and c.idempotency.ttl_hours == 24
    assert c.send_test.recipient == "success@simulator.amazonses.com"
    assert c.resource_tags == {"app": "txnalert", "managed-by": "txnalert"}
    assert c.warnings == ()


def test_the_start_margin_defaults_to_the_smaller_of_5_s_and_a_tenth_of_the_timeout() -> None:
    def margin(text: str) -> int:
        return cfg.loads("queue: {name: q, visibility_timeout: 900}\n" + text, "t.yaml").lambda_.start_margin_ms

    assert margin("lambda: {timeout: 2}\n") == 200 and margin("lambda: {timeout: 4}\n") == 400
    assert margin("lambda: {timeout: 900}\n") == 5000
    assert margin("lambda: {timeout: 30, start_margin_seconds: 1.5}\n") == 1500
    assert margin("lambda: {timeout: 30, start_margin_seconds: 0}\n") == 0


def test_fifo_names_get_the_suffix() -> None:
    c = cfg.loads("queue:\n  name: orders\n  fifo: true\n", "t.yaml")
    assert c.queue.name == "orders.fifo"
    assert c.queue.dlq.name == "orders-dlq.fifo"
    c = cfg.loads("queue:\n  name: orders.fifo\n  fifo: true\n  dlq: {name: dead.fifo}\n", "t.yaml")
    assert (c.queue.name, c.queue.dlq.name) == ("orders.fifo", "dead.fifo")


def test_example_config_is_valid_and_matches_the_defaults() -> None:
    example = cfg.load(str(Path(__file__).parent.parent / "config.example.yaml"))
    assert example.warnings == ()
    builtin = cfg.builtin_example()
    assert example.queue == builtin.queue
    assert example.ses == builtin.ses
    assert example.lambda_ == builtin.lambda_
    assert example.resource_tags == builtin.resource_tags


BROKEN = [
    (
        "queue:\n  name: q\n  dlq:\n    max_receive_count: five\n",
        ['t.yaml: queue.dlq.max_receive_count: must be an integer >= 1, got "five"'],
    ),
    (
        "queue:\n  name: q\n  dlq:\n    max_receive_count: 5000\n",
        ["t.yaml: queue.dlq.max_receive_count: must be between 1 and 1000, got 5000"],
    ),
    ("queue:\n  fifo: true\n", ["t.yaml: queue.name: missing (the one required key)"]),
    (
        "queue:\n  name: bad name\n",
        ["t.yaml: queue.name: may contain only letters, digits, '-' and '_', got \"bad name\""],
    ),
    (
        "queue:\n  name: " + "a" * 76 + "\n  fifo: true\n",
        ['t.yaml: queue.name: must be at most 80 characters including .fifo, got 81 ("' + "a" * 76 + '.fifo")'],
    ),
    (
        "queue:\n  name: " + "a" * 72 + "\n  fifo: true\n",
        ['t.yaml: queue.dlq.name: must be at most 80 characters including .fifo, got 81 ("' + "a" * 72 + '-dlq.fifo")'],
    ),
    (
        "queue:\n  name: q.fifo\n",
        ['t.yaml: queue.name: "q.fifo" ends with .fifo but queue.fifo is false (set queue.fifo: true)'],
    ),
    ("queue:\n  name: q\n  fifo: yes please\n", ['t.yaml: queue.fifo: must be true or false, got "yes please"']),
    (
        "queue:\n  name: q\n  visibilty_timeout: 300\n",
        ['t.yaml: queue.visibilty_timeout: unknown key (did you mean "visibility_timeout"?)'],
    ),
    ("queues:\n  name: q\nqueue: {name: q}\n", ['t.yaml: queues: unknown key (did you mean "queue"?)']),
    ("queue:\n  name: q\n  receive_wait: 21\n", ["t.yaml: queue.receive_wait: must be between 0 and 20, got 21"]),
    (
        "queue:\n  name: q\n  max_message_size: 2000000\n",
        ["t.yaml: queue.max_message_size: must be between 1024 and 1048576, got 2000000"],
    ),
    (
        "queue:\n  name: q\n  fifo: true\nlambda:\n  batch_size: 11\n",
        ["t.yaml: lambda.batch_size: must be at most 10 for a FIFO queue, got 11"],
    ),
    (
        "queue:\n  name: q\n  visibility_timeout: 20\n",
        ["t.yaml: queue.visibility_timeout: must be >= lambda.timeout (30), got 20"],
    ),
    (
        "queue: {name: q}\naws:\n  region: Mars\n",
        ['t.yaml: aws.region: must be an AWS region such as us-east-1, got "Mars"'],
    ),
    (
        "queue: {name: q}\naws:\n  endpoint_url: ftp://x\n",
        ['t.yaml: aws.endpoint_url: must be null, "local" or an http(s) URL, got "ftp://x"'],
    ),
    ("queue: {name: q}\nses:\n  sender: nope\n", ['t.yaml: ses.sender: must be an email address, got "nope"']),
    (
        "queue: {name: q}\naws: {endpoint_url: 'http://127.0.0.1:99999'}\n",
        ['t.yaml: aws.endpoint_url: must be null, "local" or an http(s) URL, got "http://127.0.0.1:99999"'],
    ),
    (
        "queue: {name: q}\naws: {endpoint_url: 'http://[::1'}\n",
        ['t.yaml: aws.endpoint_url: must be null, "local" or an http(s) URL, got "http://[::1"'],
    ),
    ("queue: {name: a}\nqueue: {name: b}\n", ['t.yaml: line 2, column 1: invalid YAML: duplicate key "queue"']),
    (
        "queue: {name: q}\nses: {identities: [a@example.com, A@example.com]}\n",
        ['t.yaml: ses.identities[1]: "A@example.com" is listed twice'],
    ),
    (
        "queue: {name: q}\nses:\n  identities: [ok@example.com, 'bad id']\n",
        ['t.yaml: ses.identities[1]: must be an email address or a domain, got "bad id"'],
    ),
    (
        'queue: {name: q}\nses:\n  subject: "a\\nb"\n',
        ["t.yaml: ses.subject: must be a single line without control characters"],
    ),
    (
        "queue: {name: q}\ntags:\n  managed-by: me\n",
        ["t.yaml: tags.managed-by: is reserved; txnalert sets managed-by: txnalert itself"],
    ),
    ("queue: {name: q}\nlambda: 5\n", ["t.yaml: lambda: must be a mapping, got 5"]),
    (
        "queue: {name: q}\nlambda: {start_margin_seconds: soon}\n",
        ['t.yaml: lambda.start_margin_seconds: must be null or a number of seconds >= 0, got "soon"'],
    ),
    (
        "queue: {name: q}\nlambda: {start_margin_seconds: -1}\n",
        ["t.yaml: lambda.start_margin_seconds: must be null or a number of seconds >= 0, got -1"],
    ),
    (
        "queue: {name: q}\nlambda: {timeout: 3, start_margin_seconds: 3}\n",
        ["t.yaml: lambda.start_margin_seconds: must be below lambda.timeout (3), got 3 (no record would ever start)"],
    ),
    ("- a\n- b\n", ['t.yaml: must be a mapping with at least queue.name, got ["a", "b"]']),
    (
        "queue:\n  name: [unclosed\n",
        ["t.yaml: line 3, column 1: invalid YAML: expected ',' or ']', but got '<stream end>'"],
    ),
    ("\n# only a comment\n", ["t.yaml: config file is empty; at least queue.name is required"]),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_broken_configs_give_exact_messages(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        "queue:\n  name: 'bad!'\n  receive_wait: -1\n  dlq: {max_receive_count: 0}\n"
        "lambda: {memory: 64, timeout: 0}\nidempotency: {ttl_hours: x}\n"
    )
    assert found == [
        "t.yaml: queue.receive_wait: must be between 0 and 20, got -1",
        "t.yaml: queue.dlq.max_receive_count: must be between 1 and 1000, got 0",
        "t.yaml: queue.name: may contain only letters, digits, '-' and '_', got \"bad!\"",
        "t.yaml: lambda.timeout: must be between 1 and 900, got 0",
        "t.yaml: lambda.memory: must be between 128 and 10240, got 64",
        't.yaml: idempotency.ttl_hours: must be an integer >= 1, got "x"',
    ]


def test_warnings_for_aws_recommendations() -> None:
    c = cfg.loads("queue:\n  name: q\n  visibility_timeout: 60\n  dlq: {max_receive_count: 2}\n", "t.yaml")
    assert c.warnings == (
        "t.yaml: queue.visibility_timeout: 60 is below 6 x lambda.timeout (180), AWS's recommendation for SQS triggers",
        "t.yaml: queue.dlq.max_receive_count: 2 is below 5; messages may be dead-lettered after a throttled "
        "or failed batch (AWS recommends at least 5)",
    )


def test_overrides_win_and_are_validated() -> None:
    c = cfg.loads("queue: {name: q}\naws: {region: eu-west-1}\n", "t.yaml")
    assert c.with_overrides(region="us-west-2").aws.region == "us-west-2"
    assert c.with_overrides(endpoint_url="local").aws.endpoint_url == "local"
    with pytest.raises(ConfigError) as info:
        c.with_overrides(region="nowhere")
    assert info.value.problems == ['--region: must be an AWS region such as us-east-1, got "nowhere"']


def test_cli_config_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("queue:\n  name: q\n  dlq:\n    max_receive_count: five\nlambda: {timeout: 0}\n")
    result = runner.invoke(app, ["create-queue", "-c", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f'error: {path}: queue.dlq.max_receive_count: must be an integer >= 1, got "five"',
        f"error: {path}: lambda.timeout: must be between 1 and 900, got 0",
    ]
    assert "Traceback" not in result.output


def test_config_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["inspect-queue"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: txnalert.yaml: config file not found "
        "(pass --config PATH, set TXNALERT_CONFIG, or copy config.example.yaml to txnalert.yaml)"
    )
    (tmp_path / "env.yaml").write_text("queue: {name: 'x y'}\n")
    monkeypatch.setenv("TXNALERT_CONFIG", str(tmp_path / "env.yaml"))
    result = runner.invoke(app, ["inspect-queue"])
    assert result.exit_code == 2
    assert str(tmp_path / "env.yaml") in result.stderr
    (tmp_path / "empty.yaml").write_text("")
    result = runner.invoke(app, ["inspect-queue", "-c", str(tmp_path / "empty.yaml")])
    assert result.exit_code == 2
    assert "config file is empty" in result.stderr
