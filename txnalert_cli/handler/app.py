"""The Lambda entry point: an SQS batch of transactions -> one alert email per transaction through SES.

- `lambda_handler(event, context)`: what Lambda calls. Inside Lambda (AWS_LAMBDA_FUNCTION_NAME set) it is built
  when this module is imported, in the Init phase, from environment variables (`Settings.from_env`): a missing
  or invalid setting fails Init once with a ConfigurationError. Elsewhere it is built on first invocation.
  The clients are boto3's defaults (region/endpoint from the environment).
- `AlertHandler(settings, *, sesv2_client=..., dynamodb_client=..., log_stream=...)`: the same handler with
  injected clients and log stream, used in-process by the local worker and the tests.

Per record: validate (`contract.parse_body`; an invalid message fails alone and never reaches the
idempotency store), then, once per `transaction_id` (Powertools idempotency on DynamoDB), render and send
the email. Failed records are reported in `batchItemFailures` (Powertools batch utility) so SQS retries
only them; on a FIFO queue a failure also holds back the later messages of its message group.

A record is not started when less than the start margin of the invocation's time is left (from the Lambda
context): it is reported failed and retried later. A function killed after SES accepted an email but before
its idempotency record is COMPLETED sends that email again on the retry (SES takes no idempotency key); the
margin keeps an invocation timeout out of that window (other crashes remain possible).

Outside Lambda, importing this module is cheap: boto3 and aws_lambda_powertools are imported when a handler
is built.
Imports: standard library, boto3/botocore and aws_lambda_powertools only, and relative imports.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, TextIO

from . import layout
from .context import LambdaContext
from .contract import (
    InvalidTransaction,
    Transaction,
    mask_account,
    mask_email,
    parse_body,
    redact_text,
)
from .render import clean_text, render_email

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

# --- environment variables read by Settings.from_env --------------------------------------------------
ENV_SENDER = "TXNALERT_SENDER"
ENV_SUBJECT = "TXNALERT_SUBJECT"
ENV_IDEMPOTENCY_TABLE = "TXNALERT_IDEMPOTENCY_TABLE"
ENV_IDEMPOTENCY_TTL_SECONDS = "TXNALERT_IDEMPOTENCY_TTL_SECONDS"
ENV_CONFIGURATION_SET = "TXNALERT_CONFIGURATION_SET"
ENV_FIFO = "TXNALERT_FIFO"
ENV_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
ENV_LOG_LEVEL_FALLBACK = "LOG_LEVEL"
ENV_SERVICE = "POWERTOOLS_SERVICE_NAME"
ENV_START_MARGIN_MS = "TXNALERT_START_MARGIN_MS"
ENV_LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"  # set by the Lambda runtime: we are inside Lambda

DEFAULT_SUBJECT = "Transaction Alert"
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 86400
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_SERVICE = "txnalert"
FAILURES_KEPT = 10_000  # AlertHandler.failures: the last failure reason of this many message ids
# Invocation deadline assumed when the handler is called without a Lambda context (e.g. context=None).
DEFAULT_LOCAL_TIMEOUT_SECONDS = 300.0
# The default start margin: the smaller of 5 s and a tenth of the invocation's time (lambda.timeout).
START_MARGIN_MAX_MS = 5000
START_MARGIN_FRACTION = 10

# --- what the handler logs (and keeps in `failures`, as "<message>: <detail>") when a record fails ------
MSG_INVALID = "invalid transaction"
MSG_REJECTED = "email rejected by SES"
MSG_SEND_RETRY = "send failed, will retry"
MSG_IN_PROGRESS = "transaction already in progress elsewhere, will retry"
MSG_STORE_FAILED = "idempotency store failed, will retry"
MSG_SKIPPED = "skipped, an earlier message of its group failed; will retry"
MSG_NOT_STARTED = "not started"
# Failures that a retry cannot fix; every other failure is retried by SQS and may succeed.
PERMANENT_FAILURES = (MSG_INVALID, MSG_REJECTED)

# --- the idempotency table (Powertools DynamoDBPersistenceLayer defaults, passed explicitly) ----------
# (see .layout: the one definition, shared with setup, doctor and smoke)
IDEMPOTENCY_KEY_ATTR = layout.KEY_ATTR
IDEMPOTENCY_EXPIRY_ATTR = layout.EXPIRY_ATTR
IDEMPOTENCY_IN_PROGRESS_EXPIRY_ATTR = layout.IN_PROGRESS_EXPIRY_ATTR
IDEMPOTENCY_STATUS_ATTR = layout.STATUS_ATTR
IDEMPOTENCY_DATA_ATTR = layout.DATA_ATTR
IDEMPOTENCY_STATUS_COMPLETED = layout.STATUS_COMPLETED
IDEMPOTENCY_STATUS_INPROGRESS = layout.STATUS_INPROGRESS
IDEMPOTENCY_KEY_PREFIX = layout.KEY_PREFIX
IDEMPOTENCY_EVENT_KEY_JMESPATH = layout.EVENT_KEY_JMESPATH
idempotency_key = layout.idempotency_key

# SES error codes worth retrying later (throttling, quotas, service-side trouble, paused sending).
RETRYABLE_SES_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "LimitExceededException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServiceError",
        "RequestTimeout",
        "RequestTimeoutException",
        "SendingPausedException",
        "AccountSendingPausedException",
        "ConfigurationSetSendingPausedException",
    }
)

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class ConfigurationError(ValueError):
    """The handler's settings are missing or invalid."""


class NotStarted(Exception):
    """Too little of the invocation's time is left to start a record: it is reported failed and retried."""


class SendFailure(Exception):
    """SES did not accept the email. `retryable`: throttling/5xx/connection trouble rather than a rejection.

    The message is log-safe (email addresses masked).
    """

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


# --- settings ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Settings:
    sender: str
    subject: str = DEFAULT_SUBJECT
    idempotency_table: str
    idempotency_ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS
    configuration_set: str | None = None
    fifo: bool | None = None  # None: detect per batch from the records' eventSourceARN (".fifo")
    log_level: str = DEFAULT_LOG_LEVEL
    service: str = DEFAULT_SERVICE
    # A record is not started with less than this left of the invocation; None: default_start_margin_ms()
    # of the invocation's time at its start.
    start_margin_ms: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.sender.strip():
            problems.append("sender is empty")
        if not self.idempotency_table.strip():
            problems.append("idempotency_table is empty")
        if self.idempotency_ttl_seconds <= 0:
            problems.append("idempotency_ttl_seconds must be a positive number of seconds")
        if self.start_margin_ms is not None and self.start_margin_ms < 0:
            problems.append("start_margin_ms must be a whole number of milliseconds >= 0")
        if problems:
            raise ConfigurationError("invalid txnalert handler settings: " + "; ".join(problems))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from environment variables (default os.environ); ConfigurationError says what's wrong."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        missing = [name for name in (ENV_SENDER, ENV_IDEMPOTENCY_TABLE) if get(name) is None]
        if missing:
            raise ConfigurationError(
                "txnalert handler is not configured: missing environment variable(s) " + ", ".join(missing)
            )
        ttl_text = get(ENV_IDEMPOTENCY_TTL_SECONDS)
        ttl = DEFAULT_IDEMPOTENCY_TTL_SECONDS
        if ttl_text is not None:
            try:
                ttl = int(ttl_text)
            except ValueError:
                raise ConfigurationError(
                    f"{ENV_IDEMPOTENCY_TTL_SECONDS} must be a whole number of seconds, got {ttl_text!r}"
                ) from None
        fifo_text = get(ENV_FIFO)
        fifo: bool | None = None
        if fifo_text is not None:
            if fifo_text.lower() in _TRUE:
                fifo = True
            elif fifo_text.lower() in _FALSE:
                fifo = False
            else:
                raise ConfigurationError(f'{ENV_FIFO} must be "true" or "false", got {fifo_text!r}')
        margin_text = get(ENV_START_MARGIN_MS)
        margin: int | None = None
        if margin_text is not None:
            if not margin_text.isdigit():
                raise ConfigurationError(
                    f"{ENV_START_MARGIN_MS} must be a whole number of milliseconds >= 0, got {margin_text!r}"
                )
            margin = int(margin_text)
        sender = get(ENV_SENDER)
        table = get(ENV_IDEMPOTENCY_TABLE)
        assert sender is not None and table is not None
        return cls(
            sender=sender,
            subject=env.get(ENV_SUBJECT) or DEFAULT_SUBJECT,
            idempotency_table=table,
            idempotency_ttl_seconds=ttl,
            configuration_set=get(ENV_CONFIGURATION_SET),
            fifo=fifo,
            log_level=(get(ENV_LOG_LEVEL) or get(ENV_LOG_LEVEL_FALLBACK) or DEFAULT_LOG_LEVEL).upper(),
            service=get(ENV_SERVICE) or DEFAULT_SERVICE,
            start_margin_ms=margin,
        )


def default_start_margin_ms(timeout_ms: int) -> int:
    """The start margin when none is configured: the smaller of 5 s and a tenth of the invocation's time, so
    that short timeouts (2-4 s in tests and demos) still process records."""
    return min(START_MARGIN_MAX_MS, max(0, timeout_ms) // START_MARGIN_FRACTION)


# The Lambda context outside Lambda (the worker, the tests): one class, in .context.
LocalContext = LambdaContext


# --- helpers ----------------------------------------------------------------------------------------


def is_fifo_event(event: Mapping[str, Any]) -> bool:
    """True when the batch comes from a FIFO queue (its eventSourceARN ends in ".fifo")."""
    records = event.get("Records") or []
    return any(
        isinstance(record, Mapping) and str(record.get("eventSourceARN", "")).endswith(".fifo") for record in records
    )


def default_client(service_name: str) -> Any:
    """A boto3 client as Lambda would build it (region and endpoint from the environment), with bounded
    timeouts and standard retries."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client(service_name, config=config)  # type: ignore[call-overload]


def classify_send_error(exc: Exception) -> SendFailure:
    """Turn a boto3 error from SES into a log-safe SendFailure, retryable or not."""
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        retryable = code in RETRYABLE_SES_ERROR_CODES or (isinstance(status, int) and (status >= 500 or status == 429))
        message = redact_text(str(error.get("Message") or ""))
        return SendFailure(f"{code}: {message}" if message else code, code=code, retryable=retryable)
    if isinstance(exc, BotoCoreError):
        code = type(exc).__name__
        # Connection errors, timeouts, credential hiccups: try again later. A request we built wrong: no.
        return SendFailure(
            f"{code}: {redact_text(str(exc))}", code=code, retryable=not isinstance(exc, ParamValidationError)
        )
    return SendFailure(f"{type(exc).__name__}: {redact_text(str(exc))}", code=type(exc).__name__, retryable=True)


def send_raw_email(
    mime: bytes,
    *,
    sender: str,
    configuration_set: str | None = None,
    sesv2_client: Any = None,
    ses_client: Any = None,
) -> str:
    """Send a complete MIME message through SES and return the SES message id. The one place that picks
    the SES API.

    SESv2 `SendEmail` with `Content={"Raw": {"Data": mime}}` is used whenever an SESv2 client is available
    (always, for `lambda_handler`): it is the current SES API and takes `ConfigurationSetName`, and moto 5.2.5
    serves it faithfully enough. moto/sesv2/responses.py `send_email` base64-decodes the Raw data and hands it
    to the SES v1 backend's `send_raw_email`, so the message is stored as a `RawMessage` (both parts intact)
    under `GET /moto-api/data.json` -> `["ses"]["RawMessage"]`, after the same verified-sender check
    (`MessageRejected` otherwise). SES v1 `SendRawEmail` is the fallback when only a v1 client is given.

    `Destination` is left out: with raw content SES takes the recipients from the To header we built (moto
    would otherwise list the recipient twice). `FromEmailAddress`/`Source` is the bare sender address (it
    must be a verified identity); the display name is in the MIME From header. Raises SendFailure.
    """
    # Just the address: the display name lives in the MIME From header (RFC 2047-encoded when needed).
    from_address = parseaddr(clean_text(sender))[1] or clean_text(sender)
    try:
        if sesv2_client is not None:
            params: dict[str, Any] = {"FromEmailAddress": from_address, "Content": {"Raw": {"Data": mime}}}
            if configuration_set:
                params["ConfigurationSetName"] = configuration_set
            return str(sesv2_client.send_email(**params)["MessageId"])
        if ses_client is not None:
            params = {"Source": from_address, "RawMessage": {"Data": mime}}
            if configuration_set:
                params["ConfigurationSetName"] = configuration_set
            return str(ses_client.send_raw_email(**params)["MessageId"])
    except Exception as exc:
        raise classify_send_error(exc) from exc
    raise ConfigurationError("no SES client: pass sesv2_client (preferred) or ses_client")


def _make_logger(settings: Settings, stream: TextIO | None) -> Logger:
    from aws_lambda_powertools import Logger

    if stream is None:
        return Logger(service=settings.service, level=settings.log_level)
    # Powertools keeps one std logger per service name and the first handler attached wins, so a logger
    # with its own stream gets a private name; its "service" key still says settings.service.
    name = f"{settings.service}-{uuid.uuid4().hex}"
    logger = Logger(service=name, level=settings.log_level, stream=stream)
    logger.append_keys(service=settings.service)
    logging.getLogger(name).propagate = False  # captured lines go to `stream` only
    return logger


# --- the handler ------------------------------------------------------------------------------------


class AlertHandler:
    """Callable as handler(event, context) -> {"batchItemFailures": [{"itemIdentifier": message_id}, ...]}.

    Clients not given are built with `default_client`. Pass `sesv2_client` (preferred) or `ses_client`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        ses_client: Any = None,
        sesv2_client: Any = None,
        dynamodb_client: Any = None,
        log_stream: TextIO | None = None,
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self.settings = settings
        if sesv2_client is None and ses_client is None:
            sesv2_client = default_client("sesv2")
        if dynamodb_client is None:
            dynamodb_client = default_client("dynamodb")
        self.sesv2_client = sesv2_client
        self.ses_client = ses_client
        self.dynamodb_client = dynamodb_client
        self.logger = _make_logger(settings, log_stream)

        self.persistence_layer = DynamoDBPersistenceLayer(
            table_name=settings.idempotency_table,
            key_attr=IDEMPOTENCY_KEY_ATTR,
            expiry_attr=IDEMPOTENCY_EXPIRY_ATTR,
            in_progress_expiry_attr=IDEMPOTENCY_IN_PROGRESS_EXPIRY_ATTR,
            status_attr=IDEMPOTENCY_STATUS_ATTR,
            data_attr=IDEMPOTENCY_DATA_ATTR,
            boto3_client=dynamodb_client,
        )
        self.idempotency_config = IdempotencyConfig(
            event_key_jmespath=IDEMPOTENCY_EVENT_KEY_JMESPATH,
            expires_after_seconds=settings.idempotency_ttl_seconds,
            raise_on_no_idempotency_key=True,
            response_hook=self._on_replayed_response,
        )
        self._send_once = idempotent_function(
            self._send_alert,
            data_keyword_argument="transaction",
            persistence_store=self.persistence_layer,
            config=self.idempotency_config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )
        self._seen: set[str] = set()
        self._context: Any = None
        self._margin_ms = 0
        # What this handler did, for an in-process caller (the local worker) that must not depend on the
        # log level: emails actually sent, and the last failure reason per SQS message id (bounded).
        self.emails_sent = 0
        self.failures: OrderedDict[str, str] = OrderedDict()

    # -- one invocation --

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
        from aws_lambda_powertools.utilities.batch import (
            BatchProcessor,
            EventType,
            SqsFifoPartialProcessor,
            process_partial_response,
        )

        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list) or not records:
            self.logger.warning("no SQS records in event")
            return {"batchItemFailures": []}

        fifo = self.settings.fifo if self.settings.fifo is not None else is_fifo_event(event)
        processor: BatchProcessor
        if fifo:
            # A failure stops its message group; the group's later records are reported failed too, so SQS
            # redelivers them in order. Other groups carry on.
            processor = SqsFifoPartialProcessor(skip_group_on_error=True)
        else:
            processor = BatchProcessor(event_type=EventType.SQS)
        # A batch where every record failed is still a partial response, not a crashed invocation.
        processor.raise_on_entire_batch_failure = False

        if not callable(getattr(context, "get_remaining_time_in_millis", None)):
            # Outside Lambda without a context: still bound how long an in-progress record can block a
            # transaction if this process dies mid-send.
            context = LocalContext(timeout_seconds=DEFAULT_LOCAL_TIMEOUT_SECONDS)
        self.idempotency_config.register_lambda_context(context)
        self._context = context
        margin = self.settings.start_margin_ms
        self._margin_ms = default_start_margin_ms(context.get_remaining_time_in_millis()) if margin is None else margin
        request_id = getattr(context, "aws_request_id", None)
        if isinstance(request_id, str):
            self.logger.append_keys(function_request_id=request_id)
        self._seen = set()
        try:
            response = process_partial_response(
                event=dict(event), record_handler=self._handle_record, processor=processor, context=context
            )
        finally:
            self.logger.set_correlation_id(None)
        failures = [{"itemIdentifier": str(item["itemIdentifier"])} for item in response["batchItemFailures"]]
        for failure in failures:
            if failure["itemIdentifier"] not in self._seen:
                self._failed(failure["itemIdentifier"], MSG_SKIPPED)
                self.logger.warning(MSG_SKIPPED, extra={"message_id": failure["itemIdentifier"]})
        self.logger.info(
            "batch processed",
            extra={"records": len(records), "failed": len(failures), "fifo": fifo},
        )
        if isinstance(request_id, str):
            self.logger.remove_keys(["function_request_id"])
        return {"batchItemFailures": failures}

    # -- one record --

    def _handle_record(self, record: SQSRecord) -> dict[str, Any]:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
        )

        message_id = record.message_id
        self._seen.add(message_id)
        receive_count = record.get("attributes", {}).get("ApproximateReceiveCount")
        self.logger.set_correlation_id(None)
        self._check_time_left(message_id, receive_count)
        try:
            txn = parse_body(record.body)
        except InvalidTransaction as exc:
            self._failed(message_id, f"{MSG_INVALID}: " + "; ".join(exc.reasons))
            self.logger.set_correlation_id(exc.transaction_id)
            self.logger.warning(
                MSG_INVALID,
                extra={"message_id": message_id, "reasons": exc.reasons, "receive_count": receive_count},
            )
            raise

        self.logger.set_correlation_id(txn.transaction_id)
        fields: dict[str, Any] = {
            "message_id": message_id,
            "transaction_type": txn.type,
            "email": mask_email(txn.email),
            "account": mask_account(txn.account_id),
            "receive_count": receive_count,
        }
        try:
            result = self._send_once(transaction=txn)
        except SendFailure as exc:
            fields.update(error_code=exc.code, reason=self._scrub(str(exc), txn))
            message = MSG_SEND_RETRY if exc.retryable else MSG_REJECTED
            self._failed(message_id, f"{message}: {fields['reason']}")
            if exc.retryable:
                self.logger.warning(message, extra=fields)
            else:
                self.logger.error(message, extra=fields)
            raise
        except IdempotencyAlreadyInProgressError:
            self._failed(message_id, MSG_IN_PROGRESS)
            self.logger.warning(MSG_IN_PROGRESS, extra=fields)
            raise
        except IdempotencyPersistenceLayerError as exc:
            fields.update(reason=self._scrub(str(exc), txn))
            self._failed(message_id, f"{MSG_STORE_FAILED}: {fields['reason']}")
            self.logger.error(MSG_STORE_FAILED, extra=fields)
            raise

        result = dict(result or {})
        replayed = bool(result.pop("replayed", False))
        fields["ses_message_id"] = result.get("ses_message_id")
        if replayed:
            self.logger.info("duplicate transaction, email already sent", extra=fields)
        else:
            self.logger.info("email sent", extra=fields)
        return result

    def _check_time_left(self, message_id: str, receive_count: Any) -> None:
        """Do not start a record with less than the start margin left: a timeout after SES accepted its email
        and before the idempotency record is COMPLETED would send that email again on the retry."""
        left_ms = self._context.get_remaining_time_in_millis()
        if left_ms >= self._margin_ms:
            return
        detail = f"{left_ms / 1000:.1f} s left of the invocation, below the {self._margin_ms / 1000:.1f} s margin"
        self._failed(message_id, f"{MSG_NOT_STARTED}: {detail}")
        self.logger.warning(
            MSG_NOT_STARTED,
            extra={
                "message_id": message_id,
                "reason": detail,
                "remaining_ms": left_ms,
                "margin_ms": self._margin_ms,
                "receive_count": receive_count,
            },
        )
        raise NotStarted(detail)

    def _failed(self, message_id: str, reason: str) -> None:
        self.failures[message_id] = reason
        self.failures.move_to_end(message_id)
        while len(self.failures) > FAILURES_KEPT:
            self.failures.popitem(last=False)

    def _send_alert(self, *, transaction: Transaction) -> dict[str, str]:
        """Runs at most once per transaction_id (until the idempotency record expires)."""
        rendered = render_email(transaction, self.settings.subject, self.settings.sender)
        ses_message_id = send_raw_email(
            rendered.mime,
            sender=self.settings.sender,
            configuration_set=self.settings.configuration_set,
            sesv2_client=self.sesv2_client,
            ses_client=self.ses_client,
        )
        self.emails_sent += 1
        return {"transaction_id": transaction.transaction_id, "ses_message_id": ses_message_id}

    @staticmethod
    def _on_replayed_response(response: Any, idempotent_data: DataRecord) -> Any:
        """Powertools calls this when the result comes from the idempotency store (a duplicate)."""
        replay = dict(response) if isinstance(response, Mapping) else {}
        replay["replayed"] = True
        return replay

    @staticmethod
    def _scrub(text: str, txn: Transaction) -> str:
        text = redact_text(text)
        if len(txn.account_id) >= 4:
            text = text.replace(txn.account_id, mask_account(txn.account_id))
        return text


# --- Lambda entry point -----------------------------------------------------------------------------

_handler: AlertHandler | None = None


def get_handler() -> AlertHandler:
    """The process-wide handler, built on first use from the environment (ConfigurationError if missing)."""
    global _handler
    if _handler is None:
        _handler = AlertHandler(Settings.from_env())
    return _handler


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """The Lambda function's handler (`<package>.app.lambda_handler`, wherever the zip puts the package)."""
    return get_handler()(event, context)


if os.environ.get(ENV_LAMBDA_FUNCTION_NAME):
    # Inside Lambda, this import is the Init phase: the settings are validated (and the clients built) here, so
    # a missing TXNALERT_SENDER fails Init once with its ConfigurationError instead of every invocation.
    get_handler()
