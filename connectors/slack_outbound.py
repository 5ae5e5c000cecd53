"""Replies on Slack: a bot turn rendered as one Slack message, posted in the thread it answers.

With SLACK_BOT_TOKEN, replies go to chat.postMessage over aiohttp (non-blocking, with a
timeout, retrying 429 and 5xx a few times). Without it (development, tests) each reply is
appended to $VAR_DIR/outbox/slack_replies.jsonl as {"time", "channel", "thread_ts", "text"},
the text redacted by the same hook as the SMS outbox (bot/server.py installs it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import aiohttp

from connectors import sms_outbound
from connectors.sms_text import join_turn

logger = logging.getLogger(__name__)


class SlackSendFailed(Exception):
    """A reply could not be posted; the message says why, never what the reply said."""


def escape_for_slack(text: str) -> str:
    """Slack reads <...> as links and mentions (<!channel> pings everyone): bot text is plain."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_turn(messages: Sequence[Dict[str, Any]]) -> Tuple[str, List[Dict[str, Any]]]:
    """One bot turn as one Slack message, and the buttons a typed number should pick.

    Texts are joined; buttons become a numbered list (unless the text numbers its own
    choices). Images and attachments are left out (a link might point at a patient's
    document); an action can give Slack its own wording with `custom: {"slack": "..."}`.
    """
    text, buttons = join_turn(messages, "slack")
    return escape_for_slack(text), buttons


class SlackOutboxSender:
    """Development/test transport: one JSON line per reply, text redacted."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = asyncio.Lock()

    async def post(self, channel: str, thread_ts: Optional[str], text: str) -> None:
        record = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "channel": channel,
            "thread_ts": thread_ts,
            # Looked up at call time: bot/server.py installs the redactor after channels load.
            "text": sms_outbound._outbox_redactor(text),
        }
        async with self._lock:  # keep lines whole and in order
            await asyncio.to_thread(sms_outbound.append_private_line, self.path,
                                    json.dumps(record, ensure_ascii=False))

    async def close(self) -> None:
        """Nothing to release; here so both transports can be closed alike."""


class SlackApiSender:
    """chat.postMessage over aiohttp (slack_sdk's WebClient would block the event loop)."""

    def __init__(self, token: str, api_base: str = "https://slack.com/api", max_attempts: int = 3,
                 backoff_base: float = 0.5, backoff_cap: float = 10.0, timeout_seconds: float = 10.0):
        self.url = f"{api_base.rstrip('/')}/chat.postMessage"
        self._headers = {"Authorization": f"Bearer {token}"}
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
        return sms_outbound.backoff_delay(attempt, retry_after, self.backoff_base, self.backoff_cap)

    async def post(self, channel: str, thread_ts: Optional[str], text: str) -> None:
        payload = {"channel": channel, "text": text, "unfurl_links": False, "unfurl_media": False}
        if thread_ts:
            payload["thread_ts"] = thread_ts
        for attempt in range(1, self.max_attempts + 1):
            retry_after = None
            try:
                async with self._client().post(self.url, json=payload, headers=self._headers) as resp:
                    retry_after = resp.headers.get("Retry-After")
                    try:
                        body = await resp.json(content_type=None)
                    except ValueError:
                        body = {}
                    error = body.get("error") if isinstance(body, dict) else None
                    if resp.status < 300 and isinstance(body, dict) and body.get("ok"):
                        logger.info("Slack reply posted in %s (%d chars)", channel, len(text))
                        return
                    if resp.status != 429 and resp.status < 500 and error != "ratelimited":
                        # e.g. not_in_channel, channel_not_found, invalid_auth: retrying won't help.
                        raise SlackSendFailed(
                            f"Slack refused the reply in {channel}: HTTP {resp.status}, {error}. "
                            "Check the bot token's scopes (chat:write) and that the bot is in the channel."
                        )
                    problem = f"HTTP {resp.status} ({error})"
            except (aiohttp.ClientError, asyncio.TimeoutError) as failure:
                problem = type(failure).__name__
            if attempt == self.max_attempts:
                raise SlackSendFailed(
                    f"Slack did not accept the reply in {channel} after {attempt} attempts "
                    f"(last: {problem}); check https://slack-status.com and the network."
                )
            delay = self._delay(attempt, retry_after)
            logger.warning("Slack reply in %s: %s, retrying in %.1fs", channel, problem, delay)
            await asyncio.sleep(delay)
