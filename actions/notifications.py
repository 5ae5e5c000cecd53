"""Staff notifications: a reference number and what happened, never PHI.

Sent to the practice's staff Slack channel when SLACK_BOT_TOKEN and SLACK_STAFF_CHANNEL are
set; otherwise (development, tests) appended to $VAR_DIR/outbox/slack.jsonl. Either way the
text passes the redactor first, with the conversation's known values; if redaction fails the
notification is sent without its summary rather than with raw text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

import aiohttp

from actions.common import slack_escape
from privacy.engine import safe_redact

logger = logging.getLogger(__name__)

SLACK_POST_URL = "https://slack.com/api/chat.postMessage"


def _outbox_path() -> Path:
    path = Path(os.environ.get("VAR_DIR", "var")).resolve() / "outbox" / "slack.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


async def notify_staff(kind: str, reference: str, summary: str = "", known_values: Optional[Iterable] = None) -> str:
    """Post '<kind> · ref <reference> · <summary>' for staff; returns the text sent.

    Without explicit known values, the conversation's (bound per request) are used."""
    from privacy.logging import current_known_values

    known = tuple(known_values) if known_values is not None else current_known_values()
    # In a thread: redaction takes milliseconds, up to the 2 s limit, that the action
    # server's event loop (every other patient's action) should not wait through.
    redacted = await asyncio.to_thread(safe_redact, summary, known, 2.0) if summary else ""
    if redacted is None:
        redacted = "(details withheld: redaction failed)"
    # Escaped: a summary can carry what a patient controls, and Slack reads <!channel> as a
    # ping to everyone and <url|label> as a link.
    text = slack_escape(f"{kind} · ref {reference}" + (f" · {redacted}" if redacted else ""))
    token, channel = os.environ.get("SLACK_BOT_TOKEN"), os.environ.get("SLACK_STAFF_CHANNEL")
    if token and channel:
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(
                    SLACK_POST_URL, json={"channel": channel, "text": text},
                    headers={"Authorization": f"Bearer {token}"},
                ) as response:
                    body = await response.json(content_type=None)
                    if not isinstance(body, dict) or not body.get("ok"):
                        error = body.get("error") if isinstance(body, dict) else f"HTTP {response.status}"
                        logger.error("Slack notification %s refused (%s)", reference, error)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            # ValueError: not JSON (a proxy's error page). The caller has already recorded the
            # request; a failed notice must not undo the patient's reply.
            logger.error("Slack notification %s failed (%s)", reference, type(error).__name__)
    else:
        record = {"at": datetime.now(timezone.utc).isoformat(), "channel": "staff", "text": text}
        await asyncio.to_thread(_append, _outbox_path(), json.dumps(record))
    logger.info("Staff notified: %s ref %s", kind, reference)
    return text


def _append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
