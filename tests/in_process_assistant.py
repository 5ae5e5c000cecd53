"""The trained model and the action server's code in one process, no ports: for dialogue
tests that need both the policies (rules, forms) and what the actions return (follow-up
actions, loops), which `rasa test` stories cannot check because they never run actions."""

from __future__ import annotations

import os
from typing import Any, Dict, List

import pytest


def trained_model_path():
    from bot.settings import Settings

    try:
        return Settings.from_env().model_path()
    except SystemExit as missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} CI must run the dialogue tests.")
        pytest.skip(str(missing))


def load_agent():
    """The trained model, calling this repository's actions directly instead of over HTTP."""
    from rasa.core.actions.action import ActionExecutionRejection
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig
    from rasa_sdk.executor import ActionExecutor
    from rasa_sdk.interfaces import ActionExecutionRejection as SdkRejection

    class InProcessActions(EndpointConfig):
        def __init__(self) -> None:
            super().__init__(url="http://in-process")
            self.executor = ActionExecutor()
            self.executor.register_package("actions.registry")

        async def request(self, method: str = "post", subpath=None, content_type=None,
                          compress: bool = False, **kwargs: Any) -> Dict[str, Any]:
            try:
                return await self.executor.run(kwargs["json"])
            except SdkRejection as rejection:  # what the HTTP server answers with a 400
                raise ActionExecutionRejection(rejection.action_name, rejection.message)

    return Agent.load(str(trained_model_path()), action_endpoint=InProcessActions())


async def say(agent, sender: str, text: str) -> List[str]:
    """What the patient sees in reply to `text`."""
    replies = await agent.handle_text(text, sender_id=sender)
    return [reply.get("text") or "" for reply in replies]


async def let_time_pass(agent, sender: str, minutes: float) -> None:
    """Age the conversation, so the next message starts a new Rasa session when `minutes`
    is past the domain's session_expiration_time."""
    tracker = await agent.tracker_store.retrieve(sender)
    for event in tracker.events:
        event.timestamp -= minutes * 60
    await agent.tracker_store.save(tracker)
