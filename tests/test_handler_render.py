"""The alert email (txnalert_cli/handler/render.py): wording, money, escaping, header safety, MIME."""

from __future__ import annotations

import email
import email.policy
from decimal import Decimal
from email.message import EmailMessage

import pytest

from txnalert_cli.handler.contract import Transaction, parse_transaction
from txnalert_cli.handler.render import RenderedEmail, clean_text, format_money, render_email

SENDER = "Alerts <alerts@example.com>"


def txn(**overrides: object) -> Transaction:
    data: dict = {
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
    data.update(overrides)
    return parse_transaction({k: v for k, v in data.items() if v is not None})


def parse_mime(rendered: RenderedEmail) -> EmailMessage:
    parsed = email.message_from_bytes(rendered.mime, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(parsed: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in parsed.iter_parts()}


def test_deposit_email():
    rendered = render_email(txn(), "Transaction Alert", SENDER)
    assert rendered.subject == "Transaction Alert"
    assert rendered.text == (
        "Hello Ada Lovelace,\n\n"
        "Your account ending 7890 has been credited with $150.00 on 22 Nov 2026 10:00 UTC.\n"
        "Your balance is $1,024.50.\n\n"
        "This is an automated message about transaction txn-0001.\n"
    )
    assert "<p>Hello Ada Lovelace,</p>" in rendered.html
    assert "has been credited with $150.00 on 22 Nov 2026 10:00 UTC." in rendered.html
    assert "Your balance is $1,024.50." in rendered.html
    assert "This is an automated message about transaction txn-0001." in rendered.html


def test_withdrawal_without_name_or_balance():
    rendered = render_email(
        txn(type="withdrawal", customer_name=None, balance=None, occurred_at="2026-03-05T23:59:59-01:00"),
        "Alert",
        SENDER,
    )
    assert rendered.text.startswith("Hello,\n\n")
    assert "Your account ending 7890 has been debited with $150.00 on 6 Mar 2026 00:59 UTC.\n\n" in rendered.text
    assert "balance" not in rendered.text and "balance" not in rendered.html


def test_blank_name_greets_plainly():
    assert render_email(txn(customer_name=" \r\n\t "), "Alert", SENDER).text.startswith("Hello,\n")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("150.00", "USD", "$150.00"),
        ("1234567.5", "USD", "$1,234,567.50"),
        ("1500", "JPY", "¥1,500"),
        ("150.00", "CHF", "150.00 CHF"),
        ("12345.5", "CHF", "12,345.50 CHF"),
        ("1234.567", "KWD", "1,234.567 KWD"),
        ("0.5", "KWD", "0.500 KWD"),
        ("99.9", "EUR", "€99.90"),
        ("10", "GBP", "£10.00"),
        ("100000", "INR", "₹100,000.00"),
        ("5000", "KRW", "5,000 KRW"),
    ],
)
def test_amounts_per_currency(amount: str, currency: str, expected: str):
    rendered = render_email(txn(amount=amount, currency=currency, balance=None), "Alert", SENDER)
    assert f"credited with {expected} on" in rendered.text
    assert f"credited with {expected} on" in rendered.html


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("-12", "USD", "-$12.00"),
        ("0", "USD", "$0.00"),
        ("-1500", "JPY", "-¥1,500"),
        ("-12.5", "CHF", "-12.50 CHF"),
        ("1024.5", "USD", "$1,024.50"),
    ],
)
def test_format_money_signs(value: str, currency: str, expected: str):
    assert format_money(Decimal(value), currency) == expected


def test_negative_balance_line():
    rendered = render_email(txn(balance="-12"), "Alert", SENDER)
    assert "Your balance is -$12.00." in rendered.text


def test_only_the_last_four_account_characters_are_shown():
    rendered = render_email(txn(account_id="GB33BUKB20201555559876"), "Alert", SENDER)
    mime = rendered.mime.decode("ascii")
    for blob in (rendered.text, rendered.html, mime):
        assert "GB33BUKB2020155555" not in blob
    assert "Your account ending 9876 has been" in rendered.text
    short = render_email(txn(account_id="1234"), "Alert", SENDER)
    assert "Your account has been credited" in short.text and "1234" not in short.text


def test_html_escapes_every_value():
    rendered = render_email(
        txn(customer_name='<script>alert("x")</script> & Co'),
        'Alert <img src=x onerror="y">',
        SENDER,
    )
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in rendered.html
    assert "<img" not in rendered.html
    assert "&lt;img src=x onerror=&quot;y&quot;&gt;" in rendered.html  # subject in <title>
    # the text part is plain text: not escaped
    assert 'Hello <script>alert("x")</script> & Co,' in rendered.text


@pytest.mark.parametrize(
    "name",
    [
        "Ada\r\nBcc: attacker@evil.example",
        "Ada\nBcc: attacker@evil.example",
        "Ada\rBcc: attacker@evil.example",
        "Ada\u2028Bcc: attacker@evil.example",
        "Ada\u2029Bcc: attacker@evil.example",
        "Ada\x00\x0b\x0c\x85Bcc: attacker@evil.example",
        "Ada\u202e\u200bBcc: attacker@evil.example",
    ],
)
def test_control_characters_in_the_name_cannot_add_headers_or_lines(name: str):
    rendered = render_email(txn(customer_name=name), "Transaction Alert", SENDER)
    parsed = parse_mime(rendered)
    assert parsed["Bcc"] is None
    assert sorted(parsed.keys()) == ["Content-Type", "Date", "From", "MIME-Version", "Subject", "To"]
    assert parsed["To"] == "customer@example.com"
    body = parts(parsed)
    first_text_line = body["text/plain"].splitlines()[0]
    assert first_text_line == "Hello Ada Bcc: attacker@evil.example,"
    assert "<p>Hello Ada Bcc: attacker@evil.example,</p>" in body["text/html"]
    assert len(rendered.text.splitlines()) == 6  # greeting, blank, sentence, balance, blank, footer
    for part in parsed.iter_parts():
        assert part["Bcc"] is None


def test_subject_and_sender_from_config_are_sanitised_too():
    rendered = render_email(
        txn(), "Transaction\r\nBcc: attacker@evil.example\tAlert", "Alerts\r\n <alerts@example.com>"
    )
    parsed = parse_mime(rendered)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Transaction Bcc: attacker@evil.example Alert"
    assert rendered.subject == "Transaction Bcc: attacker@evil.example Alert"
    assert parsed["From"].addresses[0].addr_spec == "alerts@example.com"


def test_mime_is_a_complete_multipart_alternative_message():
    rendered = render_email(txn(customer_name="Zoë Ñandú 李"), "Alerte: dépôt reçu", SENDER)
    assert rendered.mime.isascii()  # headers RFC 2047-encoded, bodies quoted-printable
    assert b"\r\n" in rendered.mime and b"\n" not in rendered.mime.replace(b"\r\n", b"")
    parsed = parse_mime(rendered)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["From"] == SENDER
    assert parsed["To"] == "customer@example.com"
    assert parsed["Subject"] == "Alerte: dépôt reçu"
    assert parsed["Date"] is not None
    body = parts(parsed)
    assert list(body) == ["text/plain", "text/html"]
    assert body["text/plain"].replace("\r\n", "\n") == rendered.text
    assert body["text/html"].replace("\r\n", "\n") == rendered.html
    assert "Hello Zoë Ñandú 李," in body["text/plain"]
    for part in parsed.iter_parts():
        assert part.get_content_charset() == "utf-8"


def test_clean_text():
    assert clean_text("  a\r\n\tb\u2028c\x00d\u200be  ") == "a b c d e"
    assert clean_text("") == ""
