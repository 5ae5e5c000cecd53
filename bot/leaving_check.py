"""Leaving a form has to be said.

Inside a form, three intents end it: `deny` ("no thanks"), `goodbye` and `stop_form`. The
classifier's character n-grams sometimes read a name as one of them ("nolan testwood" as
"no", "Helen Byers" as "bye", "Byron Quitman" as "stop"), or a new time as "stop" ("actually
can i do thursday instead"), and the patient was told "Okay, I've stopped there". Every way
of saying these that patients use (nlu_data/nlu/core.yml, tests/nlu/test_nlu.yml) has one of
the intent's own words in it, so this component keeps the intent only when the text has one;
otherwise the message is a bare answer (`inform`), which a form takes as the answer to its
question.
"""

# No `from __future__ import annotations`: Rasa resolves the component's type hints at run
# time, and the classes they name are local to _build_rasa_component.
import re
from typing import Any, Dict, List, Optional

BARE_ANSWER = "inform"

# Whole words and phrases, matched on the lowercased text with apostrophes dropped.
LEAVING_WORDS = {
    "deny": re.compile(
        r"\b(no+|nope?s?|nah+|nay|n|not|never|negative|nothing|none|neither|wrong|incorrect|"
        r"keep|rather|dont|do not|wont|isnt|doesnt|didnt|cant|wasnt|arent|havent|hasnt|"
        r"wouldnt|shouldnt|couldnt|cancel|stop|nvm)\b"
    ),
    "goodbye": re.compile(
        r"\b(bye+|goodbye|good ?night|night|see (you|ya)|cya|later|laters|ttyl|thanks?|thx|ty|"
        r"tysm|cheers|farewell|ciao|peace|done|all set|thats? (all|it|everything)|that is all|"
        r"that will be all|nothing (else|more)|gotta go|got to (go|run)|have a \w+ (day|evening|night|weekend)|"
        r"take care|appreciate|until next time)\b"
    ),
    "stop_form": re.compile(
        r"\b(stop(s|ping|ped)?|never ?mind|nvm|forget|cancel(led|ling)?|changed? my mind|quit|abort|exit|start over|"
        r"scrap|scratch|end|halt|drop it|dont (bother|want)|do not want|lets not|not now|not doing|"
        r"later|call instead|ill call|back out|get me out|skip|leave it|undo|give up|think about it|"
        r"no longer|come back)\b"
    ),
}


# "The one with dr hopperfake", "that one on monday": pointing at something already listed
# (at "Which appointment...?"), never a new task, though the classifier read it as booking.
POINTING_AT_ONE = re.compile(r"^\W*(?:the|that|this)\s+(?:\w+\s+){0,3}?one\b")
TASK_INTENTS = frozenset({"book_appointment", "reschedule_appointment", "cancel_appointment"})


def checked_intent(text: Optional[str], intent: Optional[str]) -> Optional[str]:
    """The intent a message keeps: a leaving intent without its words becomes a bare answer,
    and so does a task intent for a message that points at one of a list ("the one on monday")."""
    typed = (text or "").lower().replace("'", "").replace("’", "")
    words = LEAVING_WORDS.get(intent or "")
    if words is not None and not words.search(typed):
        return BARE_ANSWER
    if intent in TASK_INTENTS and POINTING_AT_ONE.search(typed):
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
    class LeavingCheck(GraphComponent):
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

    LeavingCheck.__qualname__ = "LeavingCheck"
    return LeavingCheck


def __getattr__(name: str) -> Any:
    # Built on first use by Rasa, so tests can import the helpers above cheaply.
    if name == "LeavingCheck":
        component = _build_rasa_component()
        globals()["LeavingCheck"] = component
        return component
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
