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
    assert c.aws.region is None and c.aws.endpoint_url is None and c.aws.profile is None  # region: resolved by Aws
    assert c.aws.account_id is None
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


# --- ses.identities and the sender -----------------------------------------------------------------

NO_IDENTITY = (
    "t.yaml: ses.identities: must list at least one email address or domain (SES only sends from verified identities)"
)


@pytest.mark.parametrize("value", ["[]", "null", "~"])
def test_no_identity_is_a_config_error(value: str) -> None:
    # An empty list used to pass, then setup failed part-way with MalformedPolicyDocument (a role without policy).
    assert problems(f"queue: {{name: q}}\nses: {{identities: {value}}}\n") == [NO_IDENTITY]


def test_setup_with_no_identity_exits_2_before_any_call(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("queue: {name: q}\naws: {endpoint_url: 'http://127.0.0.1:9'}\nses: {identities: []}\n")
    result = runner.invoke(app, ["setup", "-c", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"error: {NO_IDENTITY.replace('t.yaml', str(path))}"]


UNCOVERED = "queue: {name: wq}\naws: {endpoint_url: URL}\nses: {sender: bob@other.com}\n"


def test_an_uncovered_sender_is_its_own_attribute_not_a_warning() -> None:
    c = cfg.loads("queue: {name: q}\nses: {sender: bob@other.com}\n", "t.yaml")
    assert c.warnings == ()
    assert c.sender_uncovered == (
        't.yaml: ses.sender: "bob@other.com" is not covered by ses.identities; SES will reject sends'
    )
    assert (
        cfg.loads("queue: {name: q}\nses: {sender: a@x.com, identities: [x.com]}\n", "t.yaml").sender_uncovered is None
    )
    assert cfg.loads("queue: {name: q}\n", "t.yaml").sender_uncovered is None


@pytest.mark.parametrize(
    ("command", "printed"),
    [(["inspect-queue"], False), (["send-test"], True), (["worker", "--until-empty"], True)],
)
def test_the_sender_warning_is_printed_only_by_commands_that_send(
    endpoint: str, tmp_path: Path, command: list[str], printed: bool
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(UNCOVERED.replace("URL", endpoint))
    result = runner.invoke(app, [*command, "-c", str(path)])
    assert result.exit_code == 1, result.output  # the queue does not exist: every command stops after loading
    warning = f'warning: {path}: ses.sender: "bob@other.com" is not covered by ses.identities; SES will reject sends'
    assert (warning in result.stderr.splitlines()) is printed, result.stderr


# --- hostile config files: exit 2, one short line, no traceback, no hang ---------------------------

BOMB = "\n".join(
    ['x: &x "lol"']
    + [f"{b}: &{b} [" + ", ".join([f"*{a}"] * 9) + "]" for a, b in zip("xabcdefgh", "abcdefghi", strict=True)]
)


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines[:3]
    assert "Traceback" not in stderr
    assert len(lines[0]) < 300, lines[0][:300]
    return lines[0]


def run_cli(config: str) -> str:
    """The CLI in a subprocess, so that a hang or a runaway read fails the test instead of stalling it."""
    import subprocess
    import sys

    # At most 2 GiB of memory: before the fix, /dev/zero was read whole.
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
        "from txnalert_cli.cli import main; sys.argv[0] = 'txnalert'; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "inspect-queue", "-c", config],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    return one_error_line(proc.stderr)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "\nqueue:\n  name: *i\n")
    line = run_cli(str(path))
    assert line == f"error: {path}: the document expands to more than 10000 values (YAML aliases): refusing it"


def test_an_endless_file_is_read_no_further_than_the_limit() -> None:
    line = run_cli("/dev/zero")
    assert line == "error: /dev/zero: is larger than 1 MiB (the limit for a config file): refusing it"


HOSTILE = [
    # name, file text, the expected message after "error: <path>: "
    ("bomb in tags", "queue: {name: q}\ntags:\n  " + BOMB.replace("\n", "\n  ") + "\n", "the document expands to"),
    (
        "recursive alias",
        "queue: {name: q}\ntags: &a [*a]\n",
        "line 2, column 7: the value here contains itself (a recursive YAML alias)",
    ),
    (
        "alias chain",
        "queue: {name: q}\nk0: &k0 [x]\n" + "".join(f"k{i}: &k{i} [*k{i - 1}]\n" for i in range(1, 60)),
        "nested more than 50 levels deep (through YAML aliases): refusing it",
    ),
    (
        "unhashable key",
        "queue: {name: q}\n? [a, b]\n: 1\n",
        "line 2, column 3: a mapping key must be a string, got a list",
    ),
    (
        "mapping key",
        "queue: {name: q}\ntags: {? {a: 1} : 2}\n",
        "line 2, column 10: a mapping key must be a string, got a mapping",
    ),
    (
        "integer key",
        "queue: {name: q}\ntags: {1: x, yes: y}\n",
        "line 2, column 8: a mapping key must be a string, got an integer",
    ),
    ("boolean key", "queue: {name: q}\ntags: {yes: y}\n", "line 2, column 8: a mapping key must be a string, got true"),
    (
        "deep flow sequence",
        "queue: {name: q}\ntags: " + "[" * 500 + "]" * 500 + "\n",
        "line 2, column 56: nested more than 50",
    ),
    (
        "deep block mapping",
        "queue: {name: q}\nlambda:\n" + "".join("  " * (i + 1) + "k:\n" for i in range(500)) + "  " * 501 + "v\n",
        "line 52, column 101: nested more than 50 levels deep: refusing it",
    ),
    ("deep flow mapping", "queue: {name: q}\nlambda: " + "{a: " * 500 + "1" + "}" * 500 + "\n", "nested more than 50"),
    (
        "5 MB queue name",
        "queue:\n  name: " + "a" * 5_000_000 + "\n",
        "is 5000016 bytes, larger than 1 MiB (the limit for a config file): refusing it",
    ),
    ("1 MiB of comments", "queue: {name: q}\n" + ("#" * 99 + "\n") * 11_000, "is 1100017 bytes, larger than 1 MiB"),
    (
        "long queue name",
        "queue:\n  name: " + "a" * 900_000 + "\n",
        'queue.name: must be at most 80 characters, got 900000 ("' + "a" * 76 + '..." (900000 characters))',
    ),
    ("long tag value", "queue: {name: q}\ntags:\n  k: " + "v" * 900_000 + "\n", "(900000 characters)"),
    ("long tag name", "queue: {name: q}\ntags:\n  ? " + "k" * 900_000 + "\n  : v\n", "(900000 characters)"),
    ("long unknown key", "queue: {name: q}\n? " + "k" * 900_000 + "\n: v\n", "(900000 characters): unknown key"),
    ("long identity", "queue: {name: q}\nses: {identities: [" + "v" * 900_000 + "]}\n", "(900000 characters)"),
    ("long undefined alias", "queue: {name: *" + "a" * 900_000 + "}\n", "found undefined alias"),
    ("long unknown tag", "queue: {name: !" + "a" * 900_000 + " q}\n", "could not determine a constructor"),
    (
        "huge integer",
        "queue: {name: q}\nlambda: {timeout: " + "1" * 5000 + "}\n",
        "line 2, column 19: invalid YAML: not a valid !!int",
    ),
    (
        "bad explicit int",
        "queue: {name: q}\nlambda: {timeout: !!int xyz}\n",
        "line 2, column 19: invalid YAML: not a valid !!int",
    ),
    ("bad explicit bool", "queue: {name: q}\nlambda: {timeout: !!bool xyz}\n", "invalid YAML: not a valid !!bool"),
    (
        "bad explicit date",
        "queue: {name: q}\nlambda: {timeout: !!timestamp x}\n",
        "invalid YAML: not a valid !!timestamp",
    ),
    ("a list", "- a\n- b\n", 'must be a mapping with at least queue.name, got ["a", "b"]'),
    ("a scalar", "hello\n", 'must be a mapping with at least queue.name, got "hello"'),
    ("a long scalar", "x" * 900_000 + "\n", "(900000 characters)"),
    (
        "tabs",
        "queue:\n\tname: q\n",
        "line 2, column 1: invalid YAML: found character '\\t' that cannot start any token",
    ),
    ("NUL bytes", "queue: {name: q}\n\x00\x01\n", "invalid YAML: unacceptable character #x0000"),
    ("merge key", "base: &b {name: q}\nqueue:\n  <<: *b\n", "line 3, column 3: YAML merge keys (<<) are not supported"),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in HOSTILE], ids=[n for n, _, _ in HOSTILE])
def test_hostile_config_files_give_one_short_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["inspect-queue", "-c", str(path)])
    assert result.exit_code == 2, result.output[:2000]
    line = one_error_line(result.stderr)
    assert line.startswith(f"error: {path}: ")
    assert expected in line, line


def test_binary_garbage_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(bytes(range(128, 256)) * 8)
    result = runner.invoke(app, ["inspect-queue", "-c", str(path)])
    assert result.exit_code == 2
    assert one_error_line(result.stderr) == f"error: {path}: is not UTF-8 text"
    path.write_bytes(b"\xef\xbb\xbfqueue: {name: q}\n")  # a UTF-8 byte-order mark (Windows editors write one) is fine
    assert cfg.load(str(path)).queue.name == "q"


def test_loads_refuses_text_over_the_limit() -> None:
    assert problems("queue: {name: q}\n" + "#" * (1 << 20)) == [
        f"t.yaml: is {(1 << 20) + 17} bytes, larger than 1 MiB (the limit for a config file): refusing it"
    ]


def test_show_caps_what_it_quotes() -> None:
    assert cfg.show("a" * 5_242_880) == '"' + "a" * 76 + '..." (5242880 characters)'
    assert cfg.show("short") == '"short"'
    assert cfg.show(None) == "null" and cfg.show(True) == "true" and cfg.show([1, "a"]) == '[1, "a"]'
    nested: list = []
    for _ in range(5000):
        nested = [nested, "x" * 10]
    shown = cfg.show(nested)
    assert len(shown) <= 84 and shown.endswith("...")
    wide = {f"k{i}": list(range(1000)) for i in range(1000)}
    assert len(cfg.show(wide)) <= 84
    loop: list = []
    loop.append(loop)
    assert len(cfg.show(loop)) <= 84
