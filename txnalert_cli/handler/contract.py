"""The transaction message contract shared by the producer (`txnalert send-test`) and the Lambda handler.

One transaction per SQS message, as a JSON object::

    {"schema_version": 1, "transaction_id": "txn-0001", "account_id": "1234567890",
     "type": "deposit", "amount": "150.00", "currency": "USD", "email": "customer@example.com",
     "customer_name": "Ada Lovelace", "balance": "1024.50", "occurred_at": "2026-11-22T10:00:00Z"}

`customer_name` and `balance` are optional; unknown extra keys are ignored (forward compatible).

Standard library only: the CLI imports this module at startup, and the Lambda zip runs it on its own.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

SCHEMA_VERSION = 1
TRANSACTION_TYPES = ("deposit", "withdrawal")

# ISO 4217 minor units (number of decimals) for the currencies the contract accepts.
CURRENCY_DECIMALS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "JPY": 0,
    "INR": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "SGD": 2,
    "HKD": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "CNY": 2,
    "BRL": 2,
    "MXN": 2,
    "ZAR": 2,
    "KRW": 0,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "ILS": 2,
    "AED": 2,
    "SAR": 2,
    "TRY": 2,
    "THB": 2,
    "MYR": 2,
    "IDR": 2,
    "PHP": 2,
    "TWD": 2,
}

# Prefix symbols; a currency absent here is rendered with its code after the number ("150.00 CHF").
CURRENCY_SYMBOLS: dict[str, str] = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}

MAX_AMOUNT = Decimal("1000000000000")  # 1e12
MAX_ABS_BALANCE = Decimal("1000000000000000")  # 1e15
# The contract's own limits are long digit runs but no one's account: reasons quote them readable.
_NOT_PII_DIGITS = frozenset({str(MAX_AMOUNT), str(MAX_ABS_BALANCE)})
MAX_EMAIL_LENGTH = 254
MAX_CUSTOMER_NAME_LENGTH = 200

_TRANSACTION_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ACCOUNT_ID_RE = re.compile(r"[A-Za-z0-9]{4,34}")
_DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_MAX_DECIMAL_TEXT = 40
_EMAIL_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_EMAIL_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Anything that looks like an address inside free text (error messages, reasons) for redact_text().
_EMAIL_IN_TEXT_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
# ... and any run of this many digits or more: it could be an account number (redact_text keeps its last 4).
PII_DIGITS = 6
_DIGITS_IN_TEXT_RE = re.compile("[0-9]{" + str(PII_DIGITS) + ",}")
_TIMESTAMP_RE = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,9}))?)?"
    r"(?P<tz>[Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)


class InvalidTransaction(ValueError):
    """A message that breaks the contract. `reasons` lists every problem, each naming its field.

    `transaction_id` is set when the message carried a well-formed one (for log correlation).
    Reasons never contain a full email address or account number: each goes through `redact_text`.
    """

    def __init__(self, reasons: list[str], transaction_id: str | None = None) -> None:
        self.reasons: list[str] = [redact_text(reason) for reason in reasons]
        self.transaction_id = transaction_id
        super().__init__("; ".join(self.reasons))

    def __str__(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Transaction:
    """One validated transaction. Amounts are quantized to the currency's decimals."""

    transaction_id: str
    account_id: str
    type: str
    amount: Decimal
    currency: str
    email: str
    occurred_at: datetime  # tz-aware, UTC
    customer_name: str | None = None
    balance: Decimal | None = None
    schema_version: int = SCHEMA_VERSION

    def to_message(self) -> dict[str, Any]:
        """The canonical JSON-able message body (optional keys omitted when None)."""
        message: dict[str, Any] = {
            "schema_version": self.schema_version,
            "transaction_id": self.transaction_id,
            "account_id": self.account_id,
            "type": self.type,
            "amount": format_decimal(self.amount, self.currency),
            "currency": self.currency,
            "email": self.email,
        }
        if self.customer_name is not None:
            message["customer_name"] = self.customer_name
        if self.balance is not None:
            message["balance"] = format_decimal(self.balance, self.currency)
        message["occurred_at"] = format_timestamp(self.occurred_at)
        return message

    def to_body(self) -> str:
        """The message body as compact JSON (ASCII-only, so any SQS-legal payload)."""
        return json.dumps(self.to_message(), separators=(",", ":"))


# --- public helpers ------------------------------------------------------------------------------


def format_decimal(value: Decimal, currency: str) -> str:
    """`value` as a plain string with exactly the currency's decimals ("150.00", JPY "1500")."""
    decimals = CURRENCY_DECIMALS.get(currency, 2)
    quantized = value.quantize(Decimal(1).scaleb(-decimals))
    if quantized == 0:
        quantized = abs(quantized)  # no "-0.00"
    return f"{quantized:f}"


def format_timestamp(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` in UTC (sub-second precision dropped)."""
    if moment.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_valid_email(address: str) -> bool:
    """A pragmatic check of an ASCII address: one "@", sane local part, dotted alnum/hyphen domain."""
    if not isinstance(address, str) or len(address) > MAX_EMAIL_LENGTH or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _EMAIL_LOCAL_RE.fullmatch(local):
        return False
    if len(domain) > 253:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_EMAIL_LABEL_RE.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()


def mask_email(address: str) -> str:
    """Mask an address: "customer@example.com" -> "c***@example.com"; no local part -> "***"."""
    local, sep, domain = address.rpartition("@")
    if not sep or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def account_suffix(account_id: str) -> str:
    """The last 4 characters of the account, or "" when that would be the whole account (4 or fewer)."""
    return account_id[-4:] if len(account_id) > 4 else ""


def mask_account(account_id: str) -> str:
    """Mask an account: "1234567890" -> "****7890", four stars and the last 4 characters.

    An account of 4 characters or fewer is shown as "****" (its last 4 would be all of it).
    """
    return "****" + account_suffix(account_id)


def _mask_digits(match: re.Match[str]) -> str:
    digits = match.group(0)
    return digits if digits in _NOT_PII_DIGITS else mask_account(digits)


def redact_text(text: str) -> str:
    """Free text (error messages, reasons, log lines) made log-safe: every email-address-looking token
    masked ("c***@example.com"), and every run of 6 or more digits, which could be an account number,
    masked to its last 4 ("****7788"). The contract's own limits (1000000000000, ...) stay readable."""
    text = _EMAIL_IN_TEXT_RE.sub(lambda match: mask_email(match.group(0)), text)
    return _DIGITS_IN_TEXT_RE.sub(_mask_digits, text)


# Fields holding an address or an account, whatever their text looks like: masked whole.
EMAIL_FIELDS = frozenset({"email"})
ACCOUNT_FIELDS = frozenset({"account_id", "account"})


def redact_value(value: Any, *, keep: frozenset[str] = frozenset()) -> Any:
    """A decoded JSON value (a message body, a log record) made log-safe, recursively: `email` fields masked
    as addresses, `account_id`/`account` fields as accounts, every other string through `redact_text`, and
    numbers with a run of 6 digits or more masked like digit runs (they become strings). Keys in `keep` are
    left as they are (identifiers such as message ids, which are no one's personal data)."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if key in keep:
                out[key] = item
            elif key in EMAIL_FIELDS and isinstance(item, str):
                out[key] = mask_email(item)
            elif key in ACCOUNT_FIELDS and isinstance(item, str | int) and not isinstance(item, bool):
                out[key] = mask_account(str(item))
            else:
                out[key] = redact_value(item, keep=keep)
        return out
    if isinstance(value, list):
        return [redact_value(item, keep=keep) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        text = str(value)
        redacted = redact_text(text)
        return value if redacted == text else redacted
    return value


def message_attributes(txn: Transaction) -> dict[str, dict[str, str]]:
    """SQS SendMessage MessageAttributes for a transaction."""
    return {
        "event_type": {"DataType": "String", "StringValue": txn.type},
        "schema_version": {"DataType": "Number", "StringValue": str(txn.schema_version)},
    }


def parse_body(body: str | bytes) -> Transaction:
    """Parse and validate an SQS message body. Raises InvalidTransaction."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidTransaction(["body: not valid UTF-8"]) from None
    if not isinstance(body, str):
        raise InvalidTransaction([f"body: must be a JSON string, got {type(body).__name__}"])
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; its text has no content
        raise InvalidTransaction([f"body: not valid JSON ({redact_text(str(exc))[:120]})"]) from None
    return parse_transaction(data)


def parse_transaction(data: object) -> Transaction:
    """Validate a decoded message (a dict). Reports every field problem at once. Raises InvalidTransaction."""
    if not isinstance(data, dict):
        raise InvalidTransaction(["body: must be a JSON object"])
    reasons: list[str] = []

    schema_version = _check_schema_version(data.get("schema_version"), reasons)
    transaction_id = _check_pattern(
        "transaction_id",
        data.get("transaction_id"),
        _TRANSACTION_ID_RE,
        "must be 1-128 characters from A-Z a-z 0-9 . _ : -",
        reasons,
    )
    account_id = _check_pattern(
        "account_id", data.get("account_id"), _ACCOUNT_ID_RE, "must be 4-34 letters or digits", reasons
    )
    txn_type = _check_type(data.get("type"), reasons)
    currency = _check_currency(data.get("currency"), reasons)
    amount = _check_amount(data.get("amount"), currency, reasons)
    balance = _check_balance(data.get("balance"), currency, reasons)
    email = _check_email(data.get("email"), reasons)
    customer_name = _check_customer_name(data.get("customer_name"), reasons)
    occurred_at = _check_occurred_at(data.get("occurred_at"), reasons)

    if reasons:
        raise InvalidTransaction(reasons, transaction_id=transaction_id)
    assert transaction_id is not None and account_id is not None and txn_type is not None
    assert amount is not None and currency is not None and email is not None
    assert occurred_at is not None and schema_version is not None
    return Transaction(
        transaction_id=transaction_id,
        account_id=account_id,
        type=txn_type,
        amount=amount,
        currency=currency,
        email=email,
        occurred_at=occurred_at,
        customer_name=customer_name,
        balance=balance,
        schema_version=schema_version,
    )


# --- field checks: each appends its reasons and returns the clean value (or None) ----------------


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: object, limit: int = 40) -> str:
    """A short, quoted, log-safe rendering of a bad value: truncated, control characters escaped,
    email addresses and runs of 6 or more digits masked (`redact_text`)."""
    text = value if isinstance(value, str) else str(value)
    text = redact_text(text)
    if len(text) > limit:
        text = text[:limit] + "..."
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _check_schema_version(value: object, reasons: list[str]) -> int | None:
    if value is None:
        reasons.append("schema_version: missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        reasons.append(f"schema_version: must be the integer {SCHEMA_VERSION}, got {_json_type(value)}")
        return None
    if value != SCHEMA_VERSION:
        reasons.append(f"schema_version: unsupported version {value}, expected {SCHEMA_VERSION}")
        return None
    return value


def _check_string(field: str, value: object, reasons: list[str]) -> str | None:
    if value is None:
        reasons.append(f"{field}: missing")
        return None
    if not isinstance(value, str):
        reasons.append(f"{field}: must be a string, got {_json_type(value)}")
        return None
    return value


def _check_pattern(field: str, value: object, pattern: re.Pattern[str], rule: str, reasons: list[str]) -> str | None:
    text = _check_string(field, value, reasons)
    if text is None:
        return None
    if not pattern.fullmatch(text):
        reasons.append(f"{field}: {rule}")
        return None
    return text


def _check_type(value: object, reasons: list[str]) -> str | None:
    if value is None:
        reasons.append("type: missing")
        return None
    if value not in TRANSACTION_TYPES or not isinstance(value, str):
        got = _show(value) if isinstance(value, str) else _json_type(value)
        reasons.append(f'type: must be "deposit" or "withdrawal", got {got}')
        return None
    return value


def _check_currency(value: object, reasons: list[str]) -> str | None:
    text = _check_string("currency", value, reasons)
    if text is None:
        return None
    if text not in CURRENCY_DECIMALS:
        reasons.append(f"currency: unknown currency {_show(text, limit=12)}")
        return None
    return text


def _to_decimal(field: str, value: object, reasons: list[str]) -> tuple[Decimal, str] | None:
    """A finite Decimal and the text it came from, from a decimal string or a JSON number."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        reasons.append(f"{field}: must be a decimal string or a number, got {_json_type(value)}")
        return None
    if isinstance(value, str):
        if len(value) > _MAX_DECIMAL_TEXT or not _DECIMAL_RE.fullmatch(value):
            reasons.append(f"{field}: not a decimal number, got {_show(value)}")
            return None
        return Decimal(value), value
    if isinstance(value, float):
        text = repr(value)
        try:
            number = Decimal(text)
        except InvalidOperation:  # pragma: no cover - repr of a float is always a valid Decimal
            number = Decimal("NaN")
    else:
        number = Decimal(value)
        text = str(value)
    if not number.is_finite():
        reasons.append(f"{field}: not a decimal number, got {_show(text)}")
        return None
    return number, text


def _decimals_of(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _check_precision(
    field: str, number: Decimal, text: str, currency: str | None, reasons: list[str]
) -> Decimal | None:
    if currency is None:  # the currency problem is reported on its own
        return None
    allowed = CURRENCY_DECIMALS[currency]
    if _decimals_of(number) > allowed:
        reasons.append(f"{field}: {currency} allows at most {allowed} decimals, got {_show(text)}")
        return None
    quantized = number.quantize(Decimal(1).scaleb(-allowed))
    return abs(quantized) if quantized == 0 else quantized


def _check_amount(value: object, currency: str | None, reasons: list[str]) -> Decimal | None:
    if value is None:
        reasons.append("amount: missing")
        return None
    parsed = _to_decimal("amount", value, reasons)
    if parsed is None:
        return None
    number, text = parsed
    if number <= 0:
        reasons.append(f"amount: must be greater than 0, got {_show(text)}")
        return None
    if number > MAX_AMOUNT:
        reasons.append(f"amount: must be at most {MAX_AMOUNT}, got {_show(text)}")
        return None
    return _check_precision("amount", number, text, currency, reasons)


def _check_balance(value: object, currency: str | None, reasons: list[str]) -> Decimal | None:
    if value is None:
        return None
    parsed = _to_decimal("balance", value, reasons)
    if parsed is None:
        return None
    number, text = parsed
    if abs(number) > MAX_ABS_BALANCE:
        reasons.append(f"balance: must be between -{MAX_ABS_BALANCE} and {MAX_ABS_BALANCE}, got {_show(text)}")
        return None
    return _check_precision("balance", number, text, currency, reasons)


def _check_email(value: object, reasons: list[str]) -> str | None:
    text = _check_string("email", value, reasons)
    if text is None:
        return None
    if not is_valid_email(text):
        reasons.append("email: not a valid email address")
        return None
    return text


def _check_customer_name(value: object, reasons: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        reasons.append(f"customer_name: must be a string, got {_json_type(value)}")
        return None
    if len(value) > MAX_CUSTOMER_NAME_LENGTH:
        reasons.append(f"customer_name: must be at most {MAX_CUSTOMER_NAME_LENGTH} characters, got {len(value)}")
        return None
    return value


def _check_occurred_at(value: object, reasons: list[str]) -> datetime | None:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            reasons.append("occurred_at: must include a timezone (Z or +HH:MM)")
            return None
        try:
            return value.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            reasons.append("occurred_at: not a valid date-time")
            return None
    text = _check_string("occurred_at", value, reasons)
    if text is None:
        return None
    match = _TIMESTAMP_RE.fullmatch(text)
    if match is None:
        reasons.append(f"occurred_at: must be an ISO-8601 date-time such as 2026-11-22T10:00:00Z, got {_show(text)}")
        return None
    if match["tz"] is None:
        reasons.append(f"occurred_at: must include a timezone (Z or +HH:MM), got {_show(text)}")
        return None
    try:
        tz = _parse_offset(match["tz"])
        fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
        moment = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int(fraction),
            tzinfo=tz,
        )
        return moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        reasons.append(f"occurred_at: not a valid date-time, got {_show(text)}")
        return None


def _parse_offset(text: str) -> timezone:
    if text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
