"""`txnalert outbox`: the emails the emulator's SES accepted.

moto keeps every accepted email and serves them in `GET /moto-api/data.json` under `ses` ->
`RawMessage` (full MIME: both parts), `Message` (a Simple send: only the HTML part) and `TemplateMessage`.
There is no timestamp and all regions are mixed; the order is the order of acceptance.
"""

from __future__ import annotations

import email
import email.policy
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..errors import EndpointUnreachable, TxnalertError


class OutboxUnavailable(TxnalertError):
    """The endpoint is not a moto server, or it cannot serve its data."""


@dataclass
class OutboxEmail:
    message_id: str
    sender: str
    to: list[str]
    subject: str
    text: str
    html: str
    kind: str  # raw, simple, template

    @property
    def first_line(self) -> str:
        """The line that says what happened ("Your account ending ..."), past the greeting."""
        lines = [line.strip() for line in self.text.splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].startswith("Hello"):
            return lines[1]
        return lines[0] if lines else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "from": self.sender,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "kind": self.kind,
        }


def _model_data(endpoint: str) -> dict[str, Any]:
    url = f"{endpoint.rstrip('/')}/moto-api/data.json"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - endpoint URL from the config
            payload = resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 500:
            raise OutboxUnavailable(
                f"the moto server at {endpoint} answers HTTP 500 for /moto-api/data.json (a known moto problem "
                "once a Lambda function exists, fixed in txnalert's emulator): use `txnalert local up`"
            ) from None
        raise OutboxUnavailable(
            f"{endpoint} is not a moto server (HTTP {exc.code} for /moto-api/data.json): "
            "the outbox exists only on the emulator"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise EndpointUnreachable(f"cannot reach {endpoint}: {getattr(exc, 'reason', exc)}") from None
    try:
        data = json.loads(payload)
    except ValueError:
        raise OutboxUnavailable(
            f"{endpoint} did not answer with moto's data: the outbox exists only on the emulator"
        ) from None
    if not isinstance(data, dict):
        raise OutboxUnavailable(f"{endpoint} did not answer with moto's data")
    return data


def _parts(raw: str) -> tuple[str, str, str, list[str]]:
    msg = email.message_from_string(raw, policy=email.policy.default)
    subject = str(msg.get("Subject", ""))
    to = [a.strip() for a in str(msg.get("To", "")).split(",") if a.strip()]
    text = html = ""
    for part in msg.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain" and not text:
            text = part.get_content().replace("\r\n", "\n")
        elif content_type == "text/html" and not html:
            html = part.get_content().replace("\r\n", "\n")
    return subject, text, html, to


def fetch(endpoint: str | None) -> list[OutboxEmail]:
    """Every email the emulator accepted, oldest first."""
    if not endpoint:
        raise OutboxUnavailable("the outbox exists only on the emulator; this config points at real AWS")
    ses = _model_data(endpoint).get("ses", {})
    emails: list[OutboxEmail] = []
    for item in ses.get("RawMessage", []):
        subject, text, html, to = _parts(str(item.get("raw_data", "")))
        emails.append(
            OutboxEmail(
                message_id=str(item.get("id", "")),
                sender=str(item.get("source", "")),
                to=list(item.get("destinations") or to),
                subject=subject,
                text=text,
                html=html,
                kind="raw",
            )
        )
    for item in ses.get("Message", []):
        destinations = item.get("destinations") or {}
        emails.append(
            OutboxEmail(
                message_id=str(item.get("id", "")),
                sender=str(item.get("source", "")),
                to=list(destinations.get("ToAddresses", [])),
                subject=str(item.get("subject", "")),
                text="",
                html=str(item.get("body", "")),
                kind="simple",
            )
        )
    for item in ses.get("TemplateMessage", []):
        destinations = item.get("destinations") or {}
        emails.append(
            OutboxEmail(
                message_id=str(item.get("id", "")),
                sender=str(item.get("source", "")),
                to=list(destinations.get("ToAddresses", [])) if isinstance(destinations, dict) else [],
                subject=f"(template {item.get('template')})",
                text=str(item.get("template_data", "")),
                html="",
                kind="template",
            )
        )
    return emails
