"""A "no" has to say no.

Inside a form, `deny` leaves it politely ("no thanks" at any question). The classifier's
character n-grams sometimes read a name as `deny` ("nolan testwood", "Dana Notreal"), and the
patient who typed their name was then told "Okay, I've stopped there". Every way of saying no
that patients use (nlu_data/nlu/core.yml, tests/nlu/test_nlu.yml) has a negative word in it,
so this component keeps `deny` only when the text has one; otherwise the message is a bare
answer (`inform`), which a form takes as the answer to its question.
"""

# No `from __future__ import annotations`: Rasa resolves the component's type hints at run
# time, and the classes they name are local to _build_rasa_component.
import re
from typing import Any, Dict, List, Optional

DENY = "deny"
BARE_ANSWER = "inform"

_NEGATIVE = re.compile(
    r"\b(no+|nope?s?|nah+|nay|n|not|never|negative|nothing|none|neither|wrong|incorrect|"
    r"keep|rather|don'?t|dont|do not|won'?t|isn'?t|doesn'?t|cancel|stop|nvm)\b"
    r"|n't\b",
    re.I,
)


def says_no(text: Optional[str]) -> bool:
    return bool(_NEGATIVE.search(text or ""))


def checked_intent(text: Optional[str], intent: Optional[str]) -> Optional[str]:
    """The intent a message keeps: `deny` without a negative word becomes a bare answer."""
    if intent == DENY and not says_no(text):
        return BARE_ANSWER
    return intent


def _build_rasa_component() -> type:
    # Imported here: Rasa pulls in TensorFlow, which the helpers above never need.
    from rasa.engine.graph import ExecutionContext, GraphComponent
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.storage.resource import Resource
    from rasa.engine.storage.storage import ModelStorage
    from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, TEXT
    from rasa.shared.nlu.training_data.message import Message

    @DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
    class DenyNeedsANo(GraphComponent):
        @classmethod
        def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
                   execution_context: ExecutionContext) -> GraphComponent:
            return cls()

        def process(self, messages: List[Message]) -> List[Message]:
            for message in messages:
                intent = dict(message.get(INTENT) or {})
                wanted = checked_intent(message.get(TEXT), intent.get(INTENT_NAME_KEY))
                if wanted != intent.get(INTENT_NAME_KEY):
                    intent[INTENT_NAME_KEY] = wanted
                    message.set(INTENT, intent, add_to_output=True)
                    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != wanted]
                    message.set(INTENT_RANKING_KEY, [dict(intent)] + ranking, add_to_output=True)
            return messages

    DenyNeedsANo.__qualname__ = "DenyNeedsANo"
    return DenyNeedsANo


def __getattr__(name: str) -> Any:
    # Built on first use by Rasa, so tests can import the helpers above cheaply.
    if name == "DenyNeedsANo":
        component = _build_rasa_component()
        globals()["DenyNeedsANo"] = component
        return component
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
