"""What the project's Rasa NLU components (bot/channel_roles.py, bot/intent_words.py,
bot/safety.py) share.

Each module builds its component class only when Rasa first asks for it, so the action server
and the tests can import the module's plain helpers without pulling in Rasa and TensorFlow.
"""

from typing import Any, Callable, Dict


def built_on_first_use(module_globals: Dict[str, Any], name: str, build: Callable[[], type]) -> Callable[[str], Any]:
    """A module-level `__getattr__` (PEP 562) that builds the component class `name` with
    `build` the first time it is looked up, and keeps it."""

    def __getattr__(attr: str) -> Any:
        if attr == name:
            module_globals[name] = build()
            return module_globals[name]
        raise AttributeError(f"module {module_globals['__name__']!r} has no attribute {attr!r}")

    return __getattr__


def put_intent_first(message: Any, intent: Dict[str, Any]) -> None:
    """Make `intent` the message's intent and the head of its ranking (the rest kept)."""
    from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY

    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != intent[INTENT_NAME_KEY]]
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [dict(intent)] + ranking, add_to_output=True)
