"""`txnalert teardown` against the moto server: only what the config names and tags, in reverse order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import after_target, moto_data, untargeted
from tests.test_deploy import (
    FUNCTION,
    ROLE,
    Pipeline,
    cli,
    cli_json,
    client,
    fail_first,
    mappings,
    queue_arn,
    queue_url,
    snapshot,
    write_config,
)
from txnalert_cli import config as cfg
from txnalert_cli.aws import Aws
from txnalert_cli.errors import ApplyError
from txnalert_cli.infra.package import build_package
from txnalert_cli.infra.teardown import apply_teardown, plan_teardown

MAPPING = f"txq -> {FUNCTION}"
ALL = [
    ("event-source-mapping", MAPPING),
    ("lambda-function", FUNCTION),
    ("iam-role", ROLE),
    ("ses-identity", "alerts@example.com"),
    ("dynamodb-table", "txnalert-idempotency"),
    ("sqs-queue", "txq"),
    ("sqs-queue", "txq-dlq"),
]
NOT_OURS = "not tagged app=txnalert, managed-by=txnalert: not created by txnalert for this config, left alone"
KEPT = "kept (shared; --include-identities to delete)"
# What a plain `teardown` does to a full pipeline: everything but the identity, which is account-wide.
DEFAULT = [(kind, name, "keep" if kind == "ses-identity" else "delete") for kind, name in ALL]


@pytest.fixture(scope="module")
def package() -> Any:
    return build_package(cfg.loads("queue: {name: txq}\n", "t.yaml"))


def actions(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["resource"], r["name"], r["action"]) for r in result["changes"]]


def nothing_left(endpoint: str, *, identities: tuple[str, ...] = ()) -> None:
    state = snapshot(endpoint)
    assert list(state.pop("identities")) == list(identities)
    assert state == {"queues": {}, "tables": {}, "configuration_sets": {}, "roles": {}, "functions": {}}
    assert client(endpoint, "lambda").list_event_source_mappings()["EventSourceMappings"] == []


def test_teardown_deletes_everything_and_setup_works_again(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    cli_json("setup", "-c", config)
    result = cli_json("teardown", "-c", config, "--yes", "--include-identities")
    assert actions(result) == [(kind, name, "delete") for kind, name in ALL]
    assert result["summary"] == {"delete": 7, "keep": 0, "skip": 0, "absent": 0}
    assert result["deleted"] is True and result["dry_run"] is False
    nothing_left(endpoint)

    again = cli_json("teardown", "-c", config)  # nothing to delete: no --yes needed
    assert actions(again) == [(kind, name, "absent") for kind, name in ALL] and again["deleted"] is False

    # The trigger went before the function: a new pipeline on the same names works, the queue accepts messages.
    rebuilt = cli_json("setup", "-c", config)
    assert rebuilt["summary"] == {"create": 7, "update": 0, "unchanged": 0}
    sqs = client(endpoint, "sqs")
    assert sqs.send_message(QueueUrl=queue_url(endpoint, "txq"), MessageBody="{}")["MessageId"]
    assert len(mappings(endpoint)) == 1


def test_human_output(endpoint: str, tmp_path: Path, package: Any) -> None:
    config = write_config(tmp_path, endpoint)
    Pipeline(endpoint, tmp_path, package).setup()
    dry = cli("teardown", "-c", config, "--dry-run")
    assert dry.stdout.splitlines()[0].split() == ["RESOURCE", "NAME", "ACTION", "DETAILS"]
    assert ["ses-identity", "alerts@example.com", "keep", KEPT] in [
        line.split(None, 3) for line in dry.stdout.splitlines()
    ]
    assert dry.stdout.splitlines()[-1] == (
        "Plan: 6 to delete, 1 kept, 0 left alone (not ours), 0 absent. Dry run: nothing was deleted."
    )
    done = cli("teardown", "-c", config, "--yes")
    assert done.stdout.splitlines()[-1] == "Deleted 6 resources; 1 kept, 0 left alone (not ours), 0 absent."
    assert cli("teardown", "-c", config).stdout.splitlines()[-1] == (
        "Nothing to delete: 1 kept, 0 left alone (not ours), 6 absent."
    )
    nothing_left(endpoint, identities=("alerts@example.com",))
    gone = cli("teardown", "-c", config, "--yes", "--include-identities")
    assert gone.stdout.splitlines()[-1] == "Deleted 1 resources; 0 kept, 0 left alone (not ours), 6 absent."
    nothing_left(endpoint)


def test_same_name_resources_without_our_tags_are_left_alone(endpoint: str, tmp_path: Path, package: Any) -> None:
    config = write_config(tmp_path, endpoint)
    Pipeline(endpoint, tmp_path, package).setup()
    sqs, lam = client(endpoint, "sqs"), client(endpoint, "lambda")
    # Behind the tool's back: the DLQ replaced by an untagged queue of the same name, the function's tags removed.
    sqs.delete_queue(QueueUrl=queue_url(endpoint, "txq-dlq"))
    sqs.create_queue(QueueName="txq-dlq", tags={"team": "someone-else"})
    function_arn = lam.get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
    lam.untag_resource(Resource=function_arn, TagKeys=["managed-by"])

    result = cli_json("teardown", "-c", config, "--yes")
    assert actions(result) == [
        ("event-source-mapping", MAPPING, "skip"),
        ("lambda-function", FUNCTION, "skip"),
        ("iam-role", ROLE, "delete"),
        ("ses-identity", "alerts@example.com", "keep"),
        ("dynamodb-table", "txnalert-idempotency", "delete"),
        ("sqs-queue", "txq", "delete"),
        ("sqs-queue", "txq-dlq", "skip"),
    ]
    details = {r["name"]: r["details"] for r in result["changes"]}
    assert details["txq-dlq"] == {"reason": NOT_OURS}
    assert details[FUNCTION] == {
        "reason": "not tagged managed-by=txnalert: not created by txnalert for this config, left alone"
    }
    assert details[MAPPING] == {"reason": "its function is not ours, left alone"}
    state = snapshot(endpoint)
    assert [url.rsplit("/", 1)[-1] for url in state["queues"]] == ["txq-dlq"]
    assert list(state["functions"]) == [FUNCTION] and len(state["functions"][FUNCTION]["mappings"]) == 1
    assert state["roles"] == {} and state["tables"] == {} and list(state["identities"]) == ["alerts@example.com"]
    human = cli("teardown", "-c", config, "--yes")
    assert "txq-dlq" in human.stdout and "left alone" in human.stdout
    assert human.stdout.splitlines()[-1] == "Nothing to delete: 1 kept, 3 left alone (not ours), 3 absent."


def test_queues_with_messages_need_force(endpoint: str, tmp_path: Path, package: Any) -> None:
    config = write_config(tmp_path, endpoint)
    Pipeline(endpoint, tmp_path, package).setup()
    sqs = client(endpoint, "sqs")
    for n in range(3):
        sqs.send_message(QueueUrl=queue_url(endpoint, "txq"), MessageBody=f'{{"n": {n}}}')
    sqs.send_message(QueueUrl=queue_url(endpoint, "txq-dlq"), MessageBody="{}")
    dry = cli_json("teardown", "-c", config, "--dry-run")
    assert {r["name"]: r["details"] for r in dry["changes"] if r["resource"] == "sqs-queue"} == {
        "txq": {"messages": 3},
        "txq-dlq": {"messages": 1},
    }
    before = snapshot(endpoint)
    refused = cli("teardown", "-c", config, "--yes", code=2)
    assert after_target(refused.stderr) == (
        "error: queue txq holds 3 messages and queue txq-dlq holds 1 message that would be lost: "
        "pass --force to delete anyway (nothing was deleted)\n"
    )
    assert snapshot(endpoint) == before
    forced = cli_json("teardown", "-c", config, "--yes", "--force")
    assert forced["summary"] == {"delete": 6, "keep": 1, "skip": 0, "absent": 0}
    nothing_left(endpoint, identities=("alerts@example.com",))


def test_confirmation_is_required_and_dry_run_changes_nothing(endpoint: str, tmp_path: Path, package: Any) -> None:
    config = write_config(tmp_path, endpoint)
    Pipeline(endpoint, tmp_path, package).setup()
    before, raw = snapshot(endpoint), moto_data(endpoint)
    result = cli("teardown", "-c", config, code=2)
    assert after_target(result.stderr) == (
        "error: teardown would delete 6 resources: pass --yes to confirm (no terminal to ask)\n"
    )
    refused = json.loads(cli("teardown", "-c", config, "--json", code=2).stdout)  # with --json, a JSON object
    assert untargeted(refused) == {
        "error": {
            "message": "teardown would delete 6 resources: pass --yes to confirm (no terminal to ask)",
            "exit_code": 2,
        }
    }
    dry = cli_json("teardown", "-c", config, "--dry-run")
    assert dry["dry_run"] is True and dry["deleted"] is False
    assert actions(dry) == DEFAULT
    assert dry["changes"][3]["details"] == {"reason": KEPT}
    assert actions(cli_json("teardown", "-c", config, "--dry-run", "--include-identities"))[3][2] == "delete"
    assert snapshot(endpoint) == before and moto_data(endpoint) == raw


def test_a_failure_part_way_says_what_was_deleted_and_a_rerun_continues(
    endpoint: str, tmp_path: Path, package: Any
) -> None:
    path = write_config(tmp_path, endpoint)
    Pipeline(endpoint, tmp_path, package).setup()
    aws = Aws.from_config(cfg.load(path))
    fail_first(aws.client("lambda"), "DeleteFunction", None, "ServiceException", "boom")
    plan = plan_teardown(aws, cfg.load(path), include_identities=True)
    with pytest.raises(ApplyError) as info:
        apply_teardown(aws, plan)
    assert info.value.lines() == [
        f"delete lambda-function {FUNCTION} failed: DeleteFunction failed (ServiceException): boom",
        f"done: event-source-mapping {MAPPING}",
        f"not done: lambda-function {FUNCTION}, iam-role {ROLE}, ses-identity alerts@example.com, "
        "dynamodb-table txnalert-idempotency, sqs-queue txq, sqs-queue txq-dlq",
        "run the same command again to continue",
    ]
    assert mappings(endpoint) == [] and client(endpoint, "lambda").list_functions()["Functions"]
    rerun = cli_json("teardown", "-c", path, "--yes", "--include-identities")
    assert actions(rerun)[0] == ("event-source-mapping", MAPPING, "absent")
    assert [a for _, _, a in actions(rerun)[1:]] == ["delete"] * 6
    nothing_left(endpoint)


ORPHAN = (
    f"orphaned: function {FUNCTION} no longer exists (Lambda keeps a deleted function's triggers); ours by the "
    "function name the config names"
)


def test_the_trigger_of_a_deleted_function_is_deleted(endpoint: str, tmp_path: Path, package: Any) -> None:
    """DeleteFunction keeps the function's mappings: teardown finds the orphan by the ARNs built from the names."""
    config = write_config(tmp_path, endpoint)
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup()
    lam, sqs = client(endpoint, "lambda"), client(endpoint, "sqs")
    [orphan] = mappings(endpoint)
    lam.delete_function(FunctionName=FUNCTION)
    dry = cli_json("teardown", "-c", config, "--dry-run")
    assert actions(dry)[:2] == [("event-source-mapping", MAPPING, "delete"), ("lambda-function", FUNCTION, "absent")]
    assert dry["changes"][0]["details"] == {"reason": ORPHAN}
    assert cli_json("teardown", "-c", config, "--yes")["summary"] == {"delete": 5, "keep": 1, "skip": 0, "absent": 1}
    nothing_left(endpoint, identities=("alerts@example.com",))
    assert lam.list_event_source_mappings()["EventSourceMappings"] == [] != [orphan]

    # The queue gone too (a mapping outlives its queue as well): both ARNs are built from the config's names.
    pipeline.setup()
    lam.delete_function(FunctionName=FUNCTION)
    sqs.delete_queue(QueueUrl=queue_url(endpoint, "txq"))
    result = cli_json("teardown", "-c", config, "--yes")
    assert [(r["name"], r["action"]) for r in result["changes"] if r["resource"] != "ses-identity"] == [
        (MAPPING, "delete"),
        (FUNCTION, "absent"),
        (ROLE, "delete"),
        ("txnalert-idempotency", "delete"),
        ("txq", "absent"),
        ("txq-dlq", "delete"),
    ]
    nothing_left(endpoint, identities=("alerts@example.com",))


def test_a_dlq_that_a_kept_queue_still_uses_is_kept(endpoint: str, tmp_path: Path, package: Any) -> None:
    config = write_config(tmp_path, endpoint)
    Pipeline(endpoint, tmp_path, package).setup()
    sqs = client(endpoint, "sqs")
    sqs.untag_queue(QueueUrl=queue_url(endpoint, "txq"), TagKeys=["managed-by"])  # the main queue is not ours now
    result = cli_json("teardown", "-c", config, "--yes")
    assert actions(result)[-2:] == [("sqs-queue", "txq", "skip"), ("sqs-queue", "txq-dlq", "keep")]
    assert result["changes"][-1]["details"] == {
        "reason": "kept: queue txq is not deleted and still sends its dead letters here (RedrivePolicy)",
        "sources": [queue_url(endpoint, "txq")],
    }
    assert sorted(url.rsplit("/", 1)[-1] for url in snapshot(endpoint)["queues"]) == ["txq", "txq-dlq"]

    # Another application's queue sending its dead letters to our DLQ keeps it too.
    sqs.delete_queue(QueueUrl=queue_url(endpoint, "txq"))
    redrive = {"deadLetterTargetArn": queue_arn(endpoint, "txq-dlq"), "maxReceiveCount": 3}
    sqs.create_queue(QueueName="other-app", Attributes={"RedrivePolicy": json.dumps(redrive)})
    human = cli("teardown", "-c", config, "--yes").stdout
    assert "kept: queue other-app is not deleted and still sends its dead letters here (RedrivePolicy)" in human
    assert human.splitlines()[-1] == "Nothing to delete: 2 kept, 0 left alone (not ours), 5 absent."
    sqs.delete_queue(QueueUrl=queue_url(endpoint, "other-app"))
    assert actions(cli_json("teardown", "-c", config, "--yes"))[-1] == ("sqs-queue", "txq-dlq", "delete")


def test_the_configuration_set_is_deleted_when_ours(endpoint: str, tmp_path: Path, package: Any) -> None:
    ses = {"configuration_set": "txnalert-cs"}
    config = write_config(tmp_path, endpoint, ses=ses)
    Pipeline(endpoint, tmp_path, package).setup(ses=ses)
    result = cli_json("teardown", "-c", config, "--yes")
    assert actions(result) == [*DEFAULT[:3], ("ses-configuration-set", "txnalert-cs", "delete"), *DEFAULT[3:]]
    nothing_left(endpoint, identities=("alerts@example.com",))
    assert actions(cli_json("teardown", "-c", config))[3] == ("ses-configuration-set", "txnalert-cs", "absent")

    # Someone else's configuration set of the same name is left alone.
    sesv2 = client(endpoint, "sesv2")
    sesv2.create_configuration_set(ConfigurationSetName="theirs-cs")
    other = write_config(tmp_path, endpoint, ses={"configuration_set": "theirs-cs"})
    result = cli_json("teardown", "-c", other, "--yes")
    assert result["changes"][3] == {
        "resource": "ses-configuration-set",
        "name": "theirs-cs",
        "action": "skip",
        "details": {"reason": NOT_OURS},
    }
    assert sesv2.list_configuration_sets()["ConfigurationSets"] == ["theirs-cs"]
