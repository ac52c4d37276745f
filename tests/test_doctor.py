"""doctor against the moto server: a healthy setup is all ✔; each misconfiguration, introduced with boto3
behind the tool's back, turns exactly its own row ✘ or ⚠."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from txnalert_cli.cli import app

runner = CliRunner()
ROWS = [
    "credentials",
    "region",
    "queue",
    "dlq",
    "visibility timeout",
    "max receive count",
    "encryption (SSE)",
    "TLS-only queue policy",
    "dead letters",
    "identities",
    "configuration set",
    "sandbox",
    "function",
    "trigger",
    "concurrency vs SES rate",
    "role policy",
    "idempotency table",
]


@pytest.fixture
def healthy(endpoint: str, tmp_path: Path) -> tuple[str, str]:
    path = tmp_path / "txnalert.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "aws": {"endpoint_url": endpoint},
                "queue": {"name": "docq"},
                "ses": {"identities": ["alerts@example.com", "example.com"]},
            }
        )
    )
    result = runner.invoke(app, ["setup", "-c", str(path)])
    assert result.exit_code == 0, result.output
    return endpoint, str(path)


def doctor(config: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = runner.invoke(app, ["doctor", "-c", config, "--json"])
    out = json.loads(result.stdout)
    return result.exit_code, {c["check"]: c for c in out["checks"]}


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def queue_url(endpoint: str, name: str = "docq") -> str:
    return client(endpoint, "sqs").get_queue_url(QueueName=name)["QueueUrl"]


def mapping_uuid(endpoint: str) -> str:
    lam = client(endpoint, "lambda")
    return lam.list_event_source_mappings(FunctionName="transaction-email-processor")["EventSourceMappings"][0]["UUID"]


def test_a_healthy_setup_is_all_ok(healthy: tuple[str, str]) -> None:
    code, rows = doctor(healthy[1])
    assert code == 0
    assert list(rows) == ROWS
    assert {name: row["status"] for name, row in rows.items()} == dict.fromkeys(ROWS, "ok")
    text = runner.invoke(app, ["doctor", "-c", healthy[1]]).stdout
    assert "✔  role policy" in text and "17 ok, 0 warnings, 0 failures" in text


def _sqs_attrs(**attributes: str) -> Callable[[str], None]:
    """SetQueueAttributes behind the tool's back, as AWS does it: the queue keeps its Policy (moto would erase
    it on a call without one, so the current one is sent along unless the change is to the Policy)."""

    def apply(endpoint: str) -> None:
        sqs, url = client(endpoint, "sqs"), queue_url(endpoint)
        policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"].get("Policy", "")
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy, **attributes})

    return apply


def _send_to_dlq(endpoint: str) -> None:
    client(endpoint, "sqs").send_message(QueueUrl=queue_url(endpoint, "docq-dlq"), MessageBody="dead")


def _delete_identity(endpoint: str) -> None:
    client(endpoint, "sesv2").delete_email_identity(EmailIdentity="alerts@example.com")


def _function(**config: Any) -> Callable[[str], None]:
    def apply(endpoint: str) -> None:
        client(endpoint, "lambda").update_function_configuration(FunctionName="transaction-email-processor", **config)

    return apply


def _mapping(**config: Any) -> Callable[[str], None]:
    def apply(endpoint: str) -> None:
        client(endpoint, "lambda").update_event_source_mapping(UUID=mapping_uuid(endpoint), **config)

    return apply


def _policy(mutate: Callable[[dict[str, Any]], None]) -> Callable[[str], None]:
    def apply(endpoint: str) -> None:
        iam = client(endpoint, "iam")
        role, name = "transaction-email-processor-role", "txnalert-function"
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        mutate(document)
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))

    return apply


def _star(document: dict[str, Any]) -> None:
    document["Statement"][0]["Resource"] = "*"


def _drop_delete(document: dict[str, Any]) -> None:
    document["Statement"][0]["Action"] = [a for a in document["Statement"][0]["Action"] if a != "sqs:DeleteMessage"]


def _deny_delete(document: dict[str, Any]) -> None:
    document["Statement"].append(
        {"Effect": "Deny", "Action": "sqs:DeleteMessage", "Resource": document["Statement"][0]["Resource"]}
    )


def _wildcard_arn(document: dict[str, Any]) -> None:
    document["Statement"][0]["Resource"] = ["arn:aws:sqs:*:*:*"]


def _extra_action(document: dict[str, Any]) -> None:
    document["Statement"].append({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::bucket/*"]})


def _grant_on_the_domain_not_the_sender(document: dict[str, Any]) -> None:
    """The sender alerts@example.com is itself an identity: SES authorises it by identity/alerts@example.com,
    and a grant on the domain's identity alone does not let the function send."""
    for statement in document["Statement"]:
        if statement.get("Sid") == "SendEmail":
            statement["Resource"] = ["arn:aws:ses:us-east-1:123456789012:identity/example.com"]


def _policy_named(name: str, action: str, resource: str) -> Callable[[str], None]:
    def apply(endpoint: str) -> None:
        client(endpoint, "iam").put_role_policy(
            RoleName="transaction-email-processor-role",
            PolicyName=name,
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}
            ),
        )

    return apply


def _ttl_off(endpoint: str) -> None:
    client(endpoint, "dynamodb").update_time_to_live(
        TableName="txnalert-idempotency", TimeToLiveSpecification={"Enabled": False, "AttributeName": "expiration"}
    )


def _attach_managed(endpoint: str) -> None:
    iam = client(endpoint, "iam")
    arn = iam.create_policy(
        PolicyName="broad",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="transaction-email-processor-role", PolicyArn=arn)


MISCONFIGURATIONS = [
    ("visibility below the function timeout", _sqs_attrs(VisibilityTimeout="20"), "visibility timeout", "fail"),
    ("visibility below 6x", _sqs_attrs(VisibilityTimeout="60"), "visibility timeout", "warn"),
    (
        "max receive count 2",
        _sqs_attrs(
            RedrivePolicy=json.dumps(
                {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:docq-dlq", "maxReceiveCount": 2}
            )
        ),
        "max receive count",
        "warn",
    ),
    ("SSE off", _sqs_attrs(SqsManagedSseEnabled="false"), "encryption (SSE)", "fail"),
    ("retention changed", _sqs_attrs(MessageRetentionPeriod="60"), "queue", "warn"),
    ("a dead letter", _send_to_dlq, "dead letters", "warn"),
    ("sender identity deleted", _delete_identity, "identities", "fail"),
    ("handler changed", _function(Handler="app.handler"), "function", "fail"),
    ("ReportBatchItemFailures off", _mapping(FunctionResponseTypes=[]), "trigger", "fail"),
    ("mapping enabled on the emulator", _mapping(Enabled=True), "trigger", "fail"),
    ("batch size changed", _mapping(BatchSize=5), "trigger", "warn"),
    (
        "concurrency above the SES rate",
        _mapping(ScalingConfig={"MaximumConcurrency": 50}),
        "concurrency vs SES rate",
        "warn",
    ),
    ('"Resource": "*"', _policy(_star), "role policy", "fail"),
    ("an action missing", _policy(_drop_delete), "role policy", "fail"),
    ("an explicit Deny on a needed action", _policy(_deny_delete), "role policy", "fail"),
    ("a managed policy attached", _attach_managed, "role policy", "fail"),
    ("another inline policy", _policy_named("sneaky", "*", "*"), "role policy", "fail"),
    ("a wildcard ARN", _policy(_wildcard_arn), "role policy", "fail"),
    ("an extra action", _policy(_extra_action), "role policy", "fail"),
    ("the sender's identity not granted", _policy(_grant_on_the_domain_not_the_sender), "role policy", "fail"),
    ("the queue policy removed", _sqs_attrs(Policy=""), "TLS-only queue policy", "fail"),
    ("TTL off", _ttl_off, "idempotency table", "fail"),
]


@pytest.mark.parametrize(
    ("label", "break_it", "row", "status"), MISCONFIGURATIONS, ids=[m[0] for m in MISCONFIGURATIONS]
)
def test_each_misconfiguration_turns_exactly_its_row(
    healthy: tuple[str, str], label: str, break_it: Callable[[str], None], row: str, status: str
) -> None:
    endpoint, config = healthy
    break_it(endpoint)
    code, rows = doctor(config)
    changed = {name: r["status"] for name, r in rows.items() if r["status"] != "ok"}
    assert changed == {row: status}, rows[row]
    assert rows[row]["fix"]
    assert code == (1 if status == "fail" else 0)


def test_nothing_set_up_fails_with_fixes(endpoint: str, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"aws": {"endpoint_url": endpoint}, "queue": {"name": "none"}}))
    code, rows = doctor(str(path))
    assert code == 1
    assert rows["queue"]["detail"] == "none does not exist" and rows["queue"]["fix"] == "run `txnalert setup`"
    assert rows["credentials"]["status"] == "ok"


def _rewrite(config: str, **ses: Any) -> None:
    data = yaml.safe_load(Path(config).read_text())
    data["ses"] = {**data.get("ses", {}), **ses}
    Path(config).write_text(yaml.safe_dump(data))


def _not_ok(rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: r["status"] for name, r in rows.items() if r["status"] != "ok"}


def test_a_sender_no_identity_covers_fails_the_identity_and_role_rows(healthy: tuple[str, str]) -> None:
    """Issue 10's reproduction: a pipeline whose sender is bob@other.com while no identity covers it (setup now
    refuses that config, so the sender is changed after setup). Every alert would be rejected by SES."""
    endpoint, config = healthy
    _rewrite(config, sender="bob@other.com")
    code, rows = doctor(config)
    assert code == 1
    assert _not_ok(rows) == {"identities": "fail", "role policy": "fail"}
    assert rows["identities"]["detail"] == (
        "sender bob@other.com is not a verified identity (neither the address nor other.com)"
    )
    assert rows["identities"]["fix"] == (
        "add other.com (or bob@other.com) to ses.identities, then run `txnalert setup` and "
        "`txnalert verify-identity --wait`"
    )
    grant = "ses:SendEmail on arn:aws:ses:us-east-1:123456789012:identity/other.com"
    assert f"missing {grant}" in rows["role policy"]["detail"]

    # other.com verified behind the tool's back: the sender can send, but the role still cannot.
    client(endpoint, "ses").verify_domain_identity(Domain="other.com")
    code, rows = doctor(config)
    assert _not_ok(rows) == {"role policy": "fail"} and f"missing {grant}" in rows["role policy"]["detail"]
    assert rows["identities"]["detail"].endswith("sender bob@other.com via other.com (verified in the account)")
    assert runner.invoke(app, ["setup", "-c", config]).exit_code == 0
    code, rows = doctor(config)
    assert code == 0 and _not_ok(rows) == {}


def test_the_senders_missing_grant_is_named(healthy: tuple[str, str]) -> None:
    endpoint, config = healthy
    _policy(_grant_on_the_domain_not_the_sender)(endpoint)
    code, rows = doctor(config)
    assert code == 1 and _not_ok(rows) == {"role policy": "fail"}
    detail = rows["role policy"]["detail"]
    assert "missing ses:SendEmail on arn:aws:ses:us-east-1:123456789012:identity/alerts@example.com" in detail
    assert "ses:SendEmail on arn:aws:ses:us-east-1:123456789012:identity/example.com" in detail  # beyond the need


def test_a_configuration_set_named_but_missing_fails_its_row(endpoint: str, tmp_path: Path) -> None:
    path = tmp_path / "txnalert.yaml"
    path.write_text(
        yaml.safe_dump(
            {"aws": {"endpoint_url": endpoint}, "queue": {"name": "docq"}, "ses": {"configuration_set": "docq-cs"}}
        )
    )
    assert runner.invoke(app, ["setup", "-c", str(path)]).exit_code == 0
    code, rows = doctor(str(path))
    assert code == 0 and _not_ok(rows) == {}
    assert rows["configuration set"]["detail"] == "docq-cs exists"
    client(endpoint, "sesv2").delete_configuration_set(ConfigurationSetName="docq-cs")
    code, rows = doctor(str(path))
    assert code == 1 and _not_ok(rows) == {"configuration set": "fail"}
    assert rows["configuration set"]["detail"] == "docq-cs does not exist: SES rejects every email sent with it"
    assert rows["configuration set"]["fix"] == "run `txnalert setup`"


def test_no_configuration_set_is_fine(healthy: tuple[str, str]) -> None:
    _, rows = doctor(healthy[1])
    assert rows["configuration set"]["status"] == "ok"
    assert rows["configuration set"]["detail"] == "none named (ses.configuration_set is null)"


def test_the_queue_policy_row_names_the_queue(healthy: tuple[str, str]) -> None:
    endpoint, config = healthy
    _, rows = doctor(config)
    assert rows["TLS-only queue policy"]["detail"] == "both queues deny any request without TLS (aws:SecureTransport)"
    sqs = client(endpoint, "sqs")
    sqs.set_queue_attributes(QueueUrl=queue_url(endpoint, "docq-dlq"), Attributes={"Policy": ""})
    _, rows = doctor(config)
    assert rows["TLS-only queue policy"]["detail"] == (
        "docq-dlq does not deny requests without TLS (no Deny on aws:SecureTransport false)"
    )
    assert rows["TLS-only queue policy"]["fix"] == "run `txnalert setup`"
