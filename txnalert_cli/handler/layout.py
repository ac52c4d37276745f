"""The idempotency table's layout: the one definition every part of txnalert uses.

The handler writes it (Powertools' DynamoDB persistence layer, with these names passed explicitly); setup
creates the table from it, doctor checks it, and smoke reads a transaction's record from it. Standard
library only.

The table has a simple primary key: partition key KEY_ATTR (type S), no sort key; DynamoDB TTL is enabled on
EXPIRY_ATTR (epoch seconds).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

KEY_ATTR = "id"
EXPIRY_ATTR = "expiration"
IN_PROGRESS_EXPIRY_ATTR = "in_progress_expiration"  # epoch milliseconds
STATUS_ATTR = "status"
DATA_ATTR = "data"  # JSON text of {"transaction_id": ..., "ses_message_id": ...}
STATUS_COMPLETED = "COMPLETED"
STATUS_INPROGRESS = "INPROGRESS"
# Fixed key prefix (instead of Powertools' "<function name>.<module.qualname>"), so the key of a transaction
# is the same in Lambda, in the local worker and in `smoke`: see idempotency_key().
KEY_PREFIX = "txnalert.send_alert"
EVENT_KEY_JMESPATH = "transaction_id"


def idempotency_key(transaction_id: str) -> str:
    """The table's partition key value for a transaction (what Powertools computes:
    "<prefix>#<md5 of the JSON-encoded transaction_id>")."""
    digest = hashlib.md5(json.dumps(transaction_id, sort_keys=True).encode(), usedforsecurity=False)
    return f"{KEY_PREFIX}#{digest.hexdigest()}"


def key_of(transaction_id: str) -> dict[str, dict[str, str]]:
    """The DynamoDB Key of a transaction's record (for GetItem)."""
    return {KEY_ATTR: {"S": idempotency_key(transaction_id)}}


def is_completed(item: dict[str, Any]) -> bool:
    """Whether a record (a GetItem Item) says its email was accepted by SES."""
    return item.get(STATUS_ATTR, {}).get("S") == STATUS_COMPLETED


def record_data(item: dict[str, Any]) -> dict[str, Any]:
    """A completed record's stored result ({"transaction_id": ..., "ses_message_id": ...}); {} when unreadable."""
    try:
        data = json.loads(item.get(DATA_ATTR, {}).get("S", "{}"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
