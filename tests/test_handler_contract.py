"""The message contract (txnalert_cli/handler/contract.py): valid and invalid messages, exact reasons."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from txnalert_cli.handler import contract
from txnalert_cli.handler.contract import (
    CURRENCY_DECIMALS,
    CURRENCY_SYMBOLS,
    SCHEMA_VERSION,
    TRANSACTION_TYPES,
    InvalidTransaction,
    Transaction,
    mask_account,
    mask_email,
    message_attributes,
    parse_body,
    parse_transaction,
    redact_text,
)

UTC = timezone.utc


def message(**overrides: object) -> dict:
    base: dict = {
        "schema_version": 1,
        "transaction_id": "txn-0001",
        "account_id": "1234567890",
        "type": "deposit",
        "amount": "150.00",
        "currency": "USD",
        "email": "customer@example.com",
        "customer_name": "Ada Lovelace",
        "balance": "1024.50",
        "occurred_at": "2026-11-22T10:00:00Z",
    }
    for key, value in overrides.items():
        if value is DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return base


DROP = object()


def reasons_of(data: object) -> list[str]:
    with pytest.raises(InvalidTransaction) as info:
        parse_transaction(data)
    return info.value.reasons


# --- constants -------------------------------------------------------------------------------------


def test_constants():
    assert SCHEMA_VERSION == 1
    assert TRANSACTION_TYPES == ("deposit", "withdrawal")
    for code in [
        "USD",
        "EUR",
        "GBP",
        "JPY",
        "INR",
        "CHF",
        "CAD",
        "AUD",
        "NZD",
        "SGD",
        "HKD",
        "SEK",
        "NOK",
        "DKK",
        "CNY",
        "BRL",
        "MXN",
        "ZAR",
        "KRW",
        "KWD",
        "BHD",
    ]:
        assert code in CURRENCY_DECIMALS
    assert (CURRENCY_DECIMALS["USD"], CURRENCY_DECIMALS["JPY"], CURRENCY_DECIMALS["KWD"]) == (2, 0, 3)
    assert CURRENCY_DECIMALS["KRW"] == 0 and CURRENCY_DECIMALS["BHD"] == 3
    assert CURRENCY_SYMBOLS == {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def test_contract_imports_only_the_standard_library():
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse(Path(contract.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "contract.py imports nothing from the package"
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in sys.stdlib_module_names or name == "__future__", name


# --- valid messages ---------------------------------------------------------------------------------


def test_full_message_parses():
    txn = parse_transaction(message())
    assert txn == Transaction(
        transaction_id="txn-0001",
        account_id="1234567890",
        type="deposit",
        amount=Decimal("150.00"),
        currency="USD",
        email="customer@example.com",
        occurred_at=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        customer_name="Ada Lovelace",
        balance=Decimal("1024.50"),
        schema_version=1,
    )
    assert txn.occurred_at.tzinfo is not None and txn.occurred_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"customer_name": DROP, "balance": DROP}, "customer_name", None),
        ({"customer_name": None, "balance": None}, "balance", None),
        ({"amount": "150"}, "amount", Decimal("150.00")),
        ({"amount": "1.5"}, "amount", Decimal("1.50")),
        ({"amount": "1.50"}, "amount", Decimal("1.50")),
        ({"amount": 150}, "amount", Decimal("150.00")),
        ({"amount": 12.5}, "amount", Decimal("12.50")),
        ({"amount": "0.01"}, "amount", Decimal("0.01")),
        ({"amount": "1000000000000"}, "amount", Decimal("1000000000000.00")),
        ({"amount": "1500", "currency": "JPY", "balance": "20000"}, "amount", Decimal("1500")),
        ({"amount": "1.234", "currency": "KWD", "balance": "-5.5"}, "balance", Decimal("-5.500")),
        ({"balance": "0"}, "balance", Decimal("0.00")),
        ({"balance": "-0.00"}, "balance", Decimal("0.00")),
        ({"balance": "-12"}, "balance", Decimal("-12.00")),
        ({"type": "withdrawal"}, "type", "withdrawal"),
        ({"currency": "CHF"}, "currency", "CHF"),
        ({"transaction_id": "A.b_c:d-1"}, "transaction_id", "A.b_c:d-1"),
        ({"transaction_id": "x" * 128}, "transaction_id", "x" * 128),
        ({"account_id": "GB33BUKB20201555555555"}, "account_id", "GB33BUKB20201555555555"),
        ({"account_id": "ABCD"}, "account_id", "ABCD"),
        ({"email": "first.last+tag@sub.example.co.uk"}, "email", "first.last+tag@sub.example.co.uk"),
        ({"customer_name": "Ada\r\nBcc: x"}, "customer_name", "Ada\r\nBcc: x"),  # neutralised at render
        ({"customer_name": "n" * 200}, "customer_name", "n" * 200),
        ({"occurred_at": "2026-11-22T12:00:00+02:00"}, "occurred_at", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        ({"occurred_at": "2026-11-22T05:30:00-0430"}, "occurred_at", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        ({"occurred_at": "2026-11-22T10:00Z"}, "occurred_at", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        (
            {"occurred_at": "2026-11-22T10:00:00.123456789Z"},
            "occurred_at",
            datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC),
        ),
        ({"unknown_future_key": {"x": 1}}, "transaction_id", "txn-0001"),
    ],
)
def test_valid_variants(overrides: dict, field: str, expected: object):
    txn = parse_transaction(message(**overrides))
    assert getattr(txn, field) == expected
    if isinstance(expected, Decimal):
        assert str(getattr(txn, field)) == str(expected)  # quantized to the currency's decimals


def test_parse_body_reads_json_numbers_as_decimals():
    txn = parse_body(
        '{"schema_version":1,"transaction_id":"t1","account_id":"1234567890","type":"deposit",'
        '"amount":0.1,"currency":"USD","email":"a@b.co","occurred_at":"2026-01-01T00:00:00Z"}'
    )
    assert txn.amount == Decimal("0.10")
    assert parse_body(json.dumps(message()).encode()) == parse_transaction(message())


# --- invalid messages: exact reasons ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"amount": "-5"}, ['amount: must be greater than 0, got "-5"']),
        ({"amount": -5}, ['amount: must be greater than 0, got "-5"']),
        ({"amount": "0"}, ['amount: must be greater than 0, got "0"']),
        ({"amount": "1.234"}, ['amount: USD allows at most 2 decimals, got "1.234"']),
        ({"amount": "1.500"}, ['amount: USD allows at most 2 decimals, got "1.500"']),
        (
            {"amount": "100.0", "currency": "JPY", "balance": DROP},
            ['amount: JPY allows at most 0 decimals, got "100.0"'],
        ),
        (
            {"amount": "1.2345", "currency": "KWD", "balance": DROP},
            ['amount: KWD allows at most 3 decimals, got "1.2345"'],
        ),
        ({"amount": "1000000000000.01"}, ['amount: must be at most 1000000000000, got "1000000000000.01"']),
        ({"amount": "abc"}, ['amount: not a decimal number, got "abc"']),
        ({"amount": "1e3"}, ['amount: not a decimal number, got "1e3"']),
        ({"amount": " 1.00"}, ['amount: not a decimal number, got " 1.00"']),
        ({"amount": "NaN"}, ['amount: not a decimal number, got "NaN"']),
        ({"amount": float("nan")}, ['amount: not a decimal number, got "nan"']),
        ({"amount": float("inf")}, ['amount: not a decimal number, got "inf"']),
        ({"amount": True}, ["amount: must be a decimal string or a number, got boolean"]),
        ({"amount": ["1"]}, ["amount: must be a decimal string or a number, got array"]),
        ({"amount": DROP}, ["amount: missing"]),
        ({"currency": "XYZ"}, ['currency: unknown currency "XYZ"']),
        ({"currency": "usd", "balance": DROP}, ['currency: unknown currency "usd"']),
        ({"currency": 840}, ["currency: must be a string, got number"]),
        ({"email": "not-an-email"}, ["email: not a valid email address"]),
        ({"email": "a@b@example.com"}, ["email: not a valid email address"]),
        ({"email": "customer@localhost"}, ["email: not a valid email address"]),
        ({"email": "cust omer@example.com"}, ["email: not a valid email address"]),
        ({"email": "customer@example.com\r\nBcc: x@evil.example"}, ["email: not a valid email address"]),
        ({"email": "customer@-example.com"}, ["email: not a valid email address"]),
        ({"email": ".customer@example.com"}, ["email: not a valid email address"]),
        ({"email": "cu..stomer@example.com"}, ["email: not a valid email address"]),
        ({"email": "customer@exa_mple.com"}, ["email: not a valid email address"]),
        ({"email": "customer@example.123"}, ["email: not a valid email address"]),
        ({"email": "x" * 250 + "@example.com"}, ["email: not a valid email address"]),
        ({"email": None}, ["email: missing"]),
        ({"type": "refund"}, ['type: must be "deposit" or "withdrawal", got "refund"']),
        ({"type": "Deposit"}, ['type: must be "deposit" or "withdrawal", got "Deposit"']),
        ({"type": 1}, ['type: must be "deposit" or "withdrawal", got number']),
        ({"type": DROP}, ["type: missing"]),
        ({"transaction_id": DROP}, ["transaction_id: missing"]),
        ({"transaction_id": ""}, ["transaction_id: must be 1-128 characters from A-Z a-z 0-9 . _ : -"]),
        ({"transaction_id": "txn 1"}, ["transaction_id: must be 1-128 characters from A-Z a-z 0-9 . _ : -"]),
        ({"transaction_id": "x" * 129}, ["transaction_id: must be 1-128 characters from A-Z a-z 0-9 . _ : -"]),
        ({"transaction_id": 12345}, ["transaction_id: must be a string, got number"]),
        ({"account_id": "123"}, ["account_id: must be 4-34 letters or digits"]),
        ({"account_id": "1234-5678"}, ["account_id: must be 4-34 letters or digits"]),
        ({"account_id": "1" * 35}, ["account_id: must be 4-34 letters or digits"]),
        ({"account_id": 1234567890}, ["account_id: must be a string, got number"]),
        ({"schema_version": 2}, ["schema_version: unsupported version 2, expected 1"]),
        ({"schema_version": True}, ["schema_version: must be the integer 1, got boolean"]),
        ({"schema_version": "1"}, ["schema_version: must be the integer 1, got string"]),
        ({"schema_version": DROP}, ["schema_version: missing"]),
        ({"balance": "1.234"}, ['balance: USD allows at most 2 decimals, got "1.234"']),
        ({"balance": "x"}, ['balance: not a decimal number, got "x"']),
        ({"customer_name": 5}, ["customer_name: must be a string, got number"]),
        ({"customer_name": "n" * 201}, ["customer_name: must be at most 200 characters, got 201"]),
        ({"occurred_at": DROP}, ["occurred_at: missing"]),
        (
            {"occurred_at": "2026-11-22T10:00:00"},
            ['occurred_at: must include a timezone (Z or +HH:MM), got "2026-11-22T10:00:00"'],
        ),
        (
            {"occurred_at": "22/11/2026 10:00"},
            ['occurred_at: must be an ISO-8601 date-time such as 2026-11-22T10:00:00Z, got "22/11/2026 10:00"'],
        ),
        (
            {"occurred_at": "2026-02-30T10:00:00Z"},
            ['occurred_at: not a valid date-time, got "2026-02-30T10:00:00Z"'],
        ),
        (
            {"occurred_at": "2026-11-22T10:00:00+25:00"},
            ['occurred_at: not a valid date-time, got "2026-11-22T10:00:00+25:00"'],
        ),
        ({"occurred_at": 1763805600}, ["occurred_at: must be a string, got number"]),
    ],
)
def test_invalid_field(overrides: dict, expected: list[str]):
    assert reasons_of(message(**overrides)) == expected


def test_all_problems_are_reported_at_once():
    data = {
        "schema_version": 1,
        "type": "refund",
        "amount": "-5",
        "currency": "XYZ",
        "email": "nope",
        "account_id": "12",
        "occurred_at": "2026-11-22T10:00:00",
    }
    with pytest.raises(InvalidTransaction) as info:
        parse_transaction(data)
    assert info.value.reasons == [
        "transaction_id: missing",
        "account_id: must be 4-34 letters or digits",
        'type: must be "deposit" or "withdrawal", got "refund"',
        'currency: unknown currency "XYZ"',
        'amount: must be greater than 0, got "-5"',
        "email: not a valid email address",
        'occurred_at: must include a timezone (Z or +HH:MM), got "2026-11-22T10:00:00"',
    ]
    assert str(info.value) == "; ".join(info.value.reasons)
    assert isinstance(info.value, ValueError)
    assert info.value.transaction_id is None


def test_invalid_transaction_keeps_a_wellformed_transaction_id():
    with pytest.raises(InvalidTransaction) as info:
        parse_transaction(message(amount="-1"))
    assert info.value.transaction_id == "txn-0001"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("not json", "body: not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        ("", "body: not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        ('{"a": 1', "body: not valid JSON (Expecting ',' delimiter: line 1 column 8 (char 7))"),
        ("[1, 2]", "body: must be a JSON object"),
        ('"string"', "body: must be a JSON object"),
        ("null", "body: must be a JSON object"),
        (b"\xff\xfe", "body: not valid UTF-8"),
    ],
)
def test_invalid_body(body: str | bytes, expected: str):
    with pytest.raises(InvalidTransaction) as info:
        parse_body(body)
    assert info.value.reasons == [expected]


def test_reasons_never_contain_a_full_address_or_account():
    data = message(
        email="customer@example.com x",
        account_id="12345678901234567890123456789012345",
        transaction_id="customer@example.com",
        type="customer@example.com",
        currency="customer@example.com",
        amount="customer@example.com",
        balance="customer@example.com",
        occurred_at="customer@example.com",
    )
    reasons = reasons_of(data)
    assert len(reasons) == 8
    text = json.dumps(reasons)
    assert "customer@example.com" not in text
    assert "12345678901234567890123456789012345" not in text


def test_reason_values_are_truncated_and_control_characters_escaped():
    (reason,) = reasons_of(message(type="a\r\nb" + "x" * 100))
    assert "\r" not in reason and "\n" not in reason
    assert reason == 'type: must be "deposit" or "withdrawal", got "a\\u000d\\u000ab' + "x" * 36 + '..."'


# --- canonical form ---------------------------------------------------------------------------------


def test_to_message_and_body_roundtrip():
    txn = parse_transaction(message(amount=150, balance="1024.5", occurred_at="2026-11-22T11:00:00+01:00"))
    assert txn.to_message() == {
        "schema_version": 1,
        "transaction_id": "txn-0001",
        "account_id": "1234567890",
        "type": "deposit",
        "amount": "150.00",
        "currency": "USD",
        "email": "customer@example.com",
        "customer_name": "Ada Lovelace",
        "balance": "1024.50",
        "occurred_at": "2026-11-22T10:00:00Z",
    }
    body = txn.to_body()
    assert " " not in body.replace("Ada Lovelace", "")
    assert parse_body(body) == txn


def test_to_message_omits_optional_keys_and_uses_currency_decimals():
    txn = parse_transaction(message(customer_name=DROP, balance=DROP, currency="JPY", amount="1500"))
    msg = txn.to_message()
    assert "customer_name" not in msg and "balance" not in msg
    assert msg["amount"] == "1500"
    kwd = parse_transaction(message(currency="KWD", amount="2", balance="-0.5"))
    assert (kwd.to_message()["amount"], kwd.to_message()["balance"]) == ("2.000", "-0.500")


def test_to_body_is_ascii_even_with_unicode_and_control_characters():
    txn = parse_transaction(message(customer_name="Zoë \x00\u2028 李"))
    body = txn.to_body()
    assert body.isascii()
    assert parse_body(body).customer_name == "Zoë \x00\u2028 李"


def test_message_attributes():
    txn = parse_transaction(message(type="withdrawal"))
    assert message_attributes(txn) == {
        "event_type": {"DataType": "String", "StringValue": "withdrawal"},
        "schema_version": {"DataType": "Number", "StringValue": "1"},
    }


# --- masking ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("customer@example.com", "c***@example.com"),
        ("a@example.com", "a***@example.com"),
        ("first.last+tag@sub.example.co.uk", "f***@sub.example.co.uk"),
        ("no-at-sign", "***"),
        ("@example.com", "***"),
    ],
)
def test_mask_email(address: str, masked: str):
    assert mask_email(address) == masked


@pytest.mark.parametrize(
    ("account", "masked"),
    [
        ("1234567890", "****7890"),
        ("GB33BUKB20201555555555", "****5555"),
        ("12345", "****2345"),
        ("1234", "****"),
        ("12", "****"),
    ],
)
def test_mask_account(account: str, masked: str):
    assert mask_account(account) == masked


def test_redact_text_masks_every_address():
    text = "Email address is not verified: customer@example.com, other.person+x@mail.example.org."
    assert redact_text(text) == "Email address is not verified: c***@example.com, o***@mail.example.org."


def test_redact_text_masks_every_run_of_six_or_more_digits_keeping_the_last_four():
    assert redact_text('amount: must be at most 1000000000000, got "22334455667788"') == (
        'amount: must be at most 1000000000000, got "****7788"'  # the contract's own limit stays readable
    )
    assert redact_text("acct 123456 and GB33BUKB20201555555555, id 12345") == (
        "acct ****3456 and GB33BUKB****5555, id 12345"  # 5 digits or fewer: not an account number
    )
    assert redact_text("12345678@example.com paid 9876543210.55") == "1***@example.com paid ****3210.55"
    assert redact_text(redact_text("22334455667788")) == "****7788"


def test_no_reason_echoes_an_account_number_or_an_address():
    """The reproduction of issue 10 item 13: a validation reason quoted the whole value."""
    cases = {
        "amount": "22334455667788",
        "balance": "9922334455667788",
        "currency": "22334455667788",
        "type": "22334455667788",
        "occurred_at": "22334455667788",
        "schema_version": 22334455667788,
    }
    for field, value in cases.items():
        with pytest.raises(InvalidTransaction) as caught:
            parse_body(json.dumps(message(**{field: value})))
        text = "; ".join(caught.value.reasons) + str(caught.value)
        assert "22334455667788" not in text and "7788" in text, (field, text)
    with pytest.raises(InvalidTransaction) as caught:
        parse_body(json.dumps(message(amount="22334455667788")))
    assert caught.value.reasons == ['amount: must be at most 1000000000000, got "****7788"']
    with pytest.raises(InvalidTransaction) as caught:
        parse_body(json.dumps(message(type="pay customer@example.com")))
    assert caught.value.reasons == ['type: must be "deposit" or "withdrawal", got "pay c***@example.com"']


def test_redact_value_masks_a_message_body():
    body = {
        "account_id": "GB33BUKB20201555555555",
        "email": "customer@example.com",
        "amount": "22334455667788",
        "balance": 22334455667788,
        "note": ["call 5551234567 or mail a.b@example.org"],
        "transaction_id": "txn-0001",
        "nested": {"email": "x@example.com", "account": "12"},
    }
    assert contract.redact_value(body) == {
        "account_id": "****5555",
        "email": "c***@example.com",
        "amount": "****7788",
        "balance": "****7788",
        "note": ["call ****4567 or mail a***@example.org"],
        "transaction_id": "txn-0001",
        "nested": {"email": "x***@example.com", "account": "****"},
    }
    assert contract.redact_value("plain 1234567", keep=frozenset()) == "plain ****4567"
    assert contract.redact_value({"message_id": "123456789"}, keep=frozenset({"message_id"})) == {
        "message_id": "123456789"
    }
