"""The transaction alert email: a text part, an HTML part and the raw RFC 5322 MIME message.

Standard library only. Every value that reaches the email is first neutralised (`clean_text`: control and
format characters become a space, whitespace collapses), so nothing can add a header or a line; every value in
the HTML part is also HTML-escaped. Only the last 4 characters of the account are ever shown.
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from .contract import CURRENCY_DECIMALS, CURRENCY_SYMBOLS, Transaction, account_suffix

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Characters that could break a header or a line: Unicode categories Cc (C0/C1 controls, incl. \r \n \t \0),
# Cf (format: bidi overrides, zero-width...), Cs (lone surrogates), Zl/Zp (U+2028, U+2029).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    mime: bytes  # complete multipart/alternative message, CRLF line endings, ready for SES raw sending


def clean_text(value: str) -> str:
    """Replace control/format/line-separator characters with a space and collapse whitespace."""
    replaced = "".join(" " if unicodedata.category(char) in _UNSAFE_CATEGORIES else char for char in value)
    return " ".join(replaced.split())


def format_money(value: Decimal, currency: str) -> str:
    """Money for people: "$1,024.50", "-$12.00", "¥1,500", "150.00 CHF", "1,234.500 KWD"."""
    decimals = CURRENCY_DECIMALS.get(currency, 2)
    quantized = value.quantize(Decimal(1).scaleb(-decimals))
    sign = "-" if quantized < 0 else ""
    number = f"{abs(quantized):,.{decimals}f}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {clean_text(currency)}"


def format_when(moment: datetime) -> str:
    """The time as "22 Nov 2026 10:00 UTC" (English month names whatever the locale)."""
    utc = moment.astimezone(timezone.utc) if moment.tzinfo is not None else moment
    return f"{utc.day} {_MONTHS[utc.month - 1]} {utc.year} {utc.hour:02d}:{utc.minute:02d} UTC"


def alert_sentence(txn: Transaction) -> str:
    """The alert line: "Your account ending 7890 has been credited with $150.00 on 22 Nov 2026
    10:00 UTC." ("debited" for withdrawals)."""
    verb = "credited" if txn.type == "deposit" else "debited"
    suffix = clean_text(account_suffix(txn.account_id))
    account = f"Your account ending {suffix}" if suffix else "Your account"
    return f"{account} has been {verb} with {format_money(txn.amount, txn.currency)} on {format_when(txn.occurred_at)}."


def render_email(txn: Transaction, subject: str, sender: str) -> RenderedEmail:
    """Render the alert for `txn`, from `sender` (an address, optionally "Name <addr>") with `subject`."""
    clean_subject = clean_text(subject)
    name = clean_text(txn.customer_name) if txn.customer_name else ""
    greeting = f"Hello {name}," if name else "Hello,"
    sentence = alert_sentence(txn)
    balance_line = f"Your balance is {format_money(txn.balance, txn.currency)}." if txn.balance is not None else ""
    footer = f"This is an automated message about transaction {clean_text(txn.transaction_id)}."

    paragraphs = [greeting, sentence + (f"\n{balance_line}" if balance_line else ""), footer]
    text = "\n\n".join(paragraphs) + "\n"

    esc = html.escape
    body_lines = [f"<p>{esc(greeting)}</p>", f"<p>{esc(sentence)}</p>"]
    if balance_line:
        body_lines.append(f"<p>{esc(balance_line)}</p>")
    body_lines.append(f'<p style="color:#666666;font-size:12px">{esc(footer)}</p>')
    html_body = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        '<head><meta charset="utf-8"><title>' + esc(clean_subject) + "</title></head>\n"
        "<body>\n" + "\n".join(body_lines) + "\n</body>\n</html>\n"
    )

    message = EmailMessage(policy=SMTP)
    message["From"] = clean_text(sender)
    message["To"] = clean_text(txn.email)
    message["Subject"] = clean_subject
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html_body, subtype="html", charset="utf-8", cte="quoted-printable")
    mime = message.as_bytes(policy=SMTP)
    return RenderedEmail(subject=clean_subject, text=text, html=html_body, mime=mime)
