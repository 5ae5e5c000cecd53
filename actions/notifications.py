"""Staff notifications: a reference number and what happened, never PHI.

Sent to the practice's staff Slack channel when SLACK_BOT_TOKEN and SLACK_STAFF_CHANNEL are
set; otherwise (development, tests) appended to $VAR_DIR/outbox/slack.jsonl. Either way the
text passes the redactor first, with the conversation's known values; if redaction fails the
notification is sent without its summary rather than with raw text.

A post Slack does not take is retried in the background (RETRY_DELAYS_S) without holding up
the patient's reply; one that still fails, or that Slack refuses for good (a revoked token, a
wrong channel), is kept in $VAR_DIR/outbox/slack_undelivered.jsonl and logged as an error
naming that file: a patient told "our team will call you" must not depend on one HTTP call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional, Set

import aiohttp

from actions.common import slack_escape
from privacy.engine import safe_redact

logger = logging.getLogger(__name__)

SLACK_POST_URL = "https://slack.com/api/chat.postMessage"
RETRY_DELAYS_S = (2.0, 10.0, 60.0)
# Slack errors that another try will not fix: the settings need changing.
PERMANENT_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                              "channel_not_found", "not_in_channel", "is_archived", "missing_scope"})
_retrying: Set[asyncio.Task] = set()  # strong references, so pending retries are not collected


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
    if not (token and channel):
        record = {"at": datetime.now(timezone.utc).isoformat(), "channel": "staff", "text": text}
        await asyncio.to_thread(_append, _outbox_path(), json.dumps(record))
        logger.info("Staff notified: %s ref %s", kind, reference)
        return text
    error = await _post(token, channel, text)
    if error is None:
        logger.info("Staff notified: %s ref %s", kind, reference)
    elif error in PERMANENT_ERRORS:
        await _keep_undelivered(reference, text, error)
    else:
        # The caller has already recorded the request; a failed notice must not undo or delay
        # the patient's reply.
        logger.warning("Slack notification %s failed (%s); retrying in the background", reference, error)
        task = asyncio.get_running_loop().create_task(_retry(token, channel, reference, text))
        _retrying.add(task)
        task.add_done_callback(_retrying.discard)
    return text


async def _post(token: str, channel: str, text: str) -> Optional[str]:
    """None when Slack took the message, else what went wrong."""
    try:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(
                SLACK_POST_URL, json={"channel": channel, "text": text},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                body = await response.json(content_type=None)
                if isinstance(body, dict) and body.get("ok"):
                    return None
                return str(body.get("error")) if isinstance(body, dict) else f"HTTP {response.status}"
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        # ValueError: not JSON (a proxy's error page).
        return type(error).__name__


async def _retry(token: str, channel: str, reference: str, text: str) -> None:
    error = "not tried"
    try:
        for delay in RETRY_DELAYS_S:
            await asyncio.sleep(delay)
            error = await _post(token, channel, text)
            if error is None:
                logger.info("Staff notified on a retry: ref %s", reference)
                return
            if error in PERMANENT_ERRORS:
                break
    except asyncio.CancelledError:  # the server is stopping: keep it rather than lose it
        await _keep_undelivered(reference, text, "server stopped before a retry")
        raise
    await _keep_undelivered(reference, text, error)


async def _keep_undelivered(reference: str, text: str, error: str) -> None:
    path = _outbox_path().with_name("slack_undelivered.jsonl")
    record = {"at": datetime.now(timezone.utc).isoformat(), "channel": "staff", "text": text, "error": error}
    await asyncio.to_thread(_append, path, json.dumps(record))
    logger.error("Staff notification ref %s could not be posted to Slack (%s). It is kept in %s; "
                 "check SLACK_BOT_TOKEN and SLACK_STAFF_CHANNEL, and pass it on to staff.", reference, error, path)


def _append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
