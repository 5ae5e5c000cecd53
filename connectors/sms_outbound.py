"""Sending texts: Twilio's REST API without blocking the event loop, or a local outbox.

With TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN (+ a From number or Messaging Service) texts go
to Twilio's Messages endpoint over aiohttp, retrying 429 and 5xx with exponential backoff
(honouring Retry-After). Without them (development, tests) each text is appended to
$VAR_DIR/outbox/sms.jsonl as {"to": <keyed hash>, "body": ...}: the number is never written.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

import aiohttp

from connectors.sms_state import log_id
from connectors.sms_text import sms_length

logger = logging.getLogger(__name__)
# Answers that mean Twilio did not take the message, so sending again cannot duplicate it.
RETRYABLE_STATUSES = frozenset({429, 502, 503})

_identity: Callable[[str], str] = lambda text: text
_outbox_redactor: Callable[[str], str] = _identity


def set_outbox_redactor(redactor: Optional[Callable[[str], str]]) -> None:
    """Install a function that redacts message bodies before they are written to the outbox
    (privacy/ plugs in here). None restores the identity (bodies written as sent)."""
    global _outbox_redactor
    _outbox_redactor = redactor or _identity


def append_private_line(path: Path, line: str) -> None:
    """Append one line to a development outbox readable by this user only (0600)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def backoff_delay(attempt: int, retry_after: Optional[str], base: float, cap: float) -> float:
    """Seconds before retry `attempt` + 1: the server's Retry-After if it gave one, else
    exponential backoff with jitter so retries do not stampede."""
    if retry_after and retry_after.isdigit():
        return min(float(retry_after), cap)
    delay = min(cap, base * (2 ** (attempt - 1)))
    return delay * (0.5 + random.random() / 2)


class SendFailed(Exception):
    """A text could not be delivered to Twilio; the message says why, never to whom."""


class OutboxSender:
    """Development/test transport: one JSON line per text, recipient as keyed hash only."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = asyncio.Lock()

    def _append(self, line: str) -> None:
        append_private_line(self.path, line)

    async def send(self, sender_id: str, number: str, body: str) -> None:
        del number  # deliberately unused: the outbox must never hold a phone number
        length = sms_length(body)
        record = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "to": sender_id,
            "body": _outbox_redactor(body),
            "encoding": length.encoding,
            "units": length.units,
            "segments": length.segments,
        }
        async with self._lock:  # keep lines whole and in order
            await asyncio.to_thread(self._append, json.dumps(record, ensure_ascii=False))

    async def close(self) -> None:
        """Nothing to release; here so both transports can be closed alike."""


class TwilioRestSender:
    """Twilio's Messages API over aiohttp (the twilio package's Client would block the loop)."""

    def __init__(self, account_sid: str, auth_token: str, from_number: Optional[str],
                 messaging_service_sid: Optional[str] = None,
                 api_base: str = "https://api.twilio.com", max_attempts: int = 5,
                 backoff_base: float = 0.5, backoff_cap: float = 8.0,
                 timeout_seconds: float = 15.0):
        if not (from_number or messaging_service_sid):
            raise SystemExit(
                "Twilio credentials are set but no sender is: set TWILIO_FROM_NUMBER (or "
                "TWILIO_MESSAGING_SERVICE_SID)."
            )
        self.url = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = aiohttp.BasicAuth(account_sid, auth_token)
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: Optional[aiohttp.ClientSession] = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _delay(self, attempt: int, retry_after: Optional[str]) -> float:
        return backoff_delay(attempt, retry_after, self.backoff_base, self.backoff_cap)

    async def send(self, sender_id: str, number: str, body: str) -> None:
        form = {"To": number, "Body": body}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = self.from_number
        who = log_id(sender_id)
        for attempt in range(1, self.max_attempts + 1):
            retry_after = None
            try:
                async with self._client().post(self.url, data=form, auth=self._auth) as resp:
                    if resp.status < 300:
                        logger.info("SMS sent to %s (%d chars, attempt %d)", who, len(body), attempt)
                        return
                    retry_after = resp.headers.get("Retry-After")
                    try:
                        code = (await resp.json(content_type=None)).get("code")
                    except (ValueError, aiohttp.ContentTypeError, AttributeError):
                        code = None
                    if resp.status not in RETRYABLE_STATUSES:
                        # 21610: the recipient replied STOP at the carrier; 21211: bad number.
                        # Other 5xx: Twilio may have created the message; a retry could text twice.
                        raise SendFailed(
                            f"Twilio refused the text to {who}: HTTP {resp.status}, error {code}. "
                            "See https://www.twilio.com/docs/api/errors for that code."
                        )
                    problem = f"HTTP {resp.status} (error {code})"
            except aiohttp.ClientConnectorError as error:
                problem = type(error).__name__  # never reached Twilio: safe to try again
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                # The request may have reached Twilio and created the message: sending it again
                # could give the patient the same text twice, so report instead of retrying.
                raise SendFailed(
                    f"No answer from Twilio for the text to {who} ({type(error).__name__}); it may "
                    "or may not have been sent, and was not sent again. Check the Twilio message log."
                ) from None
            if attempt == self.max_attempts:
                raise SendFailed(
                    f"Twilio did not accept the text to {who} after {attempt} attempts "
                    f"(last: {problem}); check Twilio's status page and the network."
                )
            delay = self._delay(attempt, retry_after)
            logger.warning("SMS to %s: %s, retrying in %.1fs", who, problem, delay)
            await asyncio.sleep(delay)
