"""IAM documents: the function role's trust policy and its one inline policy, the queues' TLS-only resource
policy, and what reads and compares policies (normalize_policy, the grant checks doctor makes).

A trust policy for lambda.amazonaws.com, and one inline policy whose every statement names ARNs built from
the config: the queue, the SES identity the sender is authorised by (and the configuration set), the
idempotency table, the function's log group. The only wildcard is the log stream name (Lambda names
streams at run time). Both queues also get a resource policy denying any request without TLS.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ..config import Config

POLICY_VERSION = "2012-10-17"
INLINE_POLICY_NAME = "txnalert-function"
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
QUEUE_POLICY_ID = "txnalert-tls-only"
TLS_ONLY_SID = "DenyInsecureTransport"
_LISTED_KEYS = ("Action", "NotAction", "Resource", "NotResource")


# --- ARNs -----------------------------------------------------------------------------------------


def partition_for(region: str) -> str:
    """The ARN partition of a region."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def build_arn(service: str, region: str, account: str, resource: str) -> str:
    """arn:<partition>:<service>:<region>:<account>:<resource>: the ARN of a regional resource by its name,
    whether or not it exists (the policy's resources, a deleted queue's or function's ARN)."""
    return f"arn:{partition_for(region)}:{service}:{region}:{account}:{resource}"


# --- the documents ----------------------------------------------------------------------------------


def trust_policy() -> dict[str, Any]:
    """Who may assume the function's role: the Lambda service, nothing else."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": LAMBDA_PRINCIPAL}, "Action": "sts:AssumeRole"},
        ],
    }


@dataclass(frozen=True)
class PolicyInputs:
    """What the inline policy is built from; every ARN in it comes from these. `sender_identity` is the SES
    identity the sender is authorised by (`ses.sender_identity`): SES checks SendEmail against the identity
    that matches the From address and against the configuration set, so those are the only SES resources
    granted, not every identity the config verifies."""

    region: str
    function_name: str
    queue_name: str
    table: str
    sender_identity: str
    configuration_set: str | None = None

    @classmethod
    def from_config(cls, config: Config, region: str, sender_identity: str) -> PolicyInputs:
        """`region`: the command's resolved region (`Aws.region`)."""
        return cls(
            region=region,
            function_name=config.lambda_.function_name,
            queue_name=config.queue.name,
            table=config.idempotency.table,
            sender_identity=sender_identity,
            configuration_set=config.ses.configuration_set,
        )


def function_policy(inputs: PolicyInputs, account: str) -> dict[str, Any]:
    """The function role's one inline policy: least privilege, every statement scoped to named ARNs.

    SQS: the three actions of AWS's AWSLambdaSQSQueueExecutionRole (the trigger receives, gets attributes and
    deletes; neither it nor the handler changes a message's visibility)."""

    def arn(service: str, resource: str) -> str:
        return build_arn(service, inputs.region, account, resource)

    log_group = arn("logs", f"log-group:/aws/lambda/{inputs.function_name}")
    ses_resources = [arn("ses", f"identity/{inputs.sender_identity}")]
    if inputs.configuration_set:
        ses_resources.append(arn("ses", f"configuration-set/{inputs.configuration_set}"))
    statements = [
        {
            "Sid": "ConsumeQueue",
            "Effect": "Allow",
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            "Resource": [arn("sqs", inputs.queue_name)],
        },
        {
            "Sid": "SendEmail",
            "Effect": "Allow",
            "Action": ["ses:SendEmail", "ses:SendRawEmail"],
            "Resource": ses_resources,
        },
        {
            "Sid": "IdempotencyTable",
            "Effect": "Allow",
            "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": [arn("dynamodb", f"table/{inputs.table}")],
        },
        # The log group's ARN as CloudWatch Logs authorises CreateLogGroup, with and without the ":*" suffix
        # its API reports; streams are named by Lambda at run time, hence the only wildcard.
        {
            "Sid": "CreateLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup"],
            "Resource": [log_group, f"{log_group}:*"],
        },
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{log_group}:log-stream:*"],
        },
    ]
    return {"Version": POLICY_VERSION, "Statement": statements}


def queue_policy(queue_arn: str) -> dict[str, Any]:
    """Both queues' resource policy: deny every request that does not come over TLS (encryption in transit)."""
    return {
        "Version": POLICY_VERSION,
        "Id": QUEUE_POLICY_ID,
        "Statement": [
            {
                "Sid": TLS_ONLY_SID,
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


# --- reading and comparing ----------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _parse_document(document: str) -> Any:
    """A policy document's JSON text (URL-encoded, as IAM returns it, or not) parsed; the text when not JSON."""
    text = document if document.lstrip().startswith("{") else unquote(document)
    try:
        return json.loads(text)
    except ValueError:
        return document


def _normalize_statement(statement: Any) -> Any:
    if not isinstance(statement, dict):
        return statement
    normalized: dict[str, Any] = {}
    for key, value in statement.items():
        if key in _LISTED_KEYS:
            normalized[key] = sorted(str(v) for v in as_list(value))
        elif key == "Principal" and isinstance(value, dict):
            normalized[key] = {k: sorted(str(v) for v in as_list(p)) for k, p in value.items()}
        else:
            normalized[key] = value
    return normalized


def normalize_policy(document: Any) -> Any:
    """A policy document in a canonical form for comparison: JSON text parsed (URL-decoded if needed),
    Statement/Action/Resource as sorted lists, statements sorted. Semantically equal documents compare equal."""
    if isinstance(document, str):
        document = _parse_document(document)
    if not isinstance(document, dict):
        return document
    statements = [_normalize_statement(s) for s in as_list(document.get("Statement"))]
    statements.sort(key=lambda s: json.dumps(s, sort_keys=True, default=str))
    return {**{k: v for k, v in document.items() if k != "Statement"}, "Statement": statements}


def policy_grants(document: dict[str, Any]) -> list[str]:
    """One line per statement: "sqs:A,B on arn...". For the plan's details."""
    lines = []
    for statement in as_list(document.get("Statement")):
        actions = as_list(statement.get("Action"))
        service = str(actions[0]).split(":")[0] if actions else "?"
        names = ",".join(str(a).split(":", 1)[-1] for a in actions)
        lines.append(f"{service}:{names} on {' '.join(str(r) for r in as_list(statement.get('Resource')))}")
    return lines


def matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Whether a statement's Action and Resource patterns cover (action, resource)."""
    actions = statement.get("Action", [])
    resources = statement.get("Resource", [])
    actions = [actions] if isinstance(actions, str) else actions
    resources = [resources] if isinstance(resources, str) else resources
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
        fnmatch.fnmatchcase(resource, r) for r in resources
    )


def grants(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """True when an Allow statement matches (action, resource) and no Deny statement does."""
    allowed = any(s.get("Effect") == "Allow" and matches(s, action, resource) for s in statements)
    return allowed and not any(s.get("Effect") == "Deny" and matches(s, action, resource) for s in statements)


def _denies_everyone_without_tls(statement: Any) -> bool:
    """A Deny for everyone on the condition aws:SecureTransport false."""
    if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    everyone = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") in ("*", ["*"]))
    secure = ((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
    values = [str(v).lower() for v in (secure if isinstance(secure, list) else [secure])]
    return everyone and values == ["false"]


def denies_insecure_transport(policy: Any, queue_arn: str) -> bool:
    """A queue policy (parsed) with a Deny for everyone on every SQS action on the queue when
    aws:SecureTransport is false."""
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        if _denies_everyone_without_tls(statement) and matches(statement, "sqs:*", queue_arn):
            return True
    return False
