"""Who is on the other end decides what a message can mean: staff in Slack, patients elsewhere.

The Slack connector marks its messages `channel_role: staff` in the message metadata; the
web chat and SMS are patient channels (the REST channel passes no metadata from the request
body, so a patient cannot claim to be staff). On the staff channel, after the classifier and
the emergency interrupt have run, this component rewrites the intent:

- a staff command ("pending refills") → `staff_command`;
- a patient self-service request (book, cancel, refill, ...) → `patient_self_service`, which
  is declined politely (staff use the practice system for those);
- greetings and yes/no are kept; everything else, emergencies and "talk to a person"
  included, is a handbook question (`staff_faq`): the patient handoff form, with its
  callback request and pause, is for patients. An emergency keeps its category entity,
  so the answer starts with the in-clinic emergency instruction.

On patient channels it changes nothing: `staff_faq` there is declined by its action, and the
handbook is never quoted to a patient.
"""

# No `from __future__ import annotations`: Rasa resolves the component's type hints at run
# time, and the classes they name are local to _build_rasa_component.
import re
from typing import Any, Dict, List, Optional

from bot.rasa_components import built_on_first_use

STAFF_ROLE = "staff"
STAFF_COMMAND = "staff_command"
STAFF_FAQ = "staff_faq"
PATIENT_SELF_SERVICE = "patient_self_service"
PATIENT_ONLY_INTENTS = frozenset({
    "book_appointment", "reschedule_appointment", "cancel_appointment", "list_appointments",
    "request_refill", "refill_status", "forget_me", "ask_what_you_know", "ai_opt_out",
})
KEPT_INTENTS = frozenset({"greet", "goodbye", "affirm", "deny", STAFF_FAQ})

# Commands staff type; the staff action parses the same patterns (actions/staff.py).
COMMAND_PATTERNS = {
    "refills": re.compile(
        r"^\s*(list |show )?(the )?(pending |open |waiting )?(rx |refill |prescription )(requests?|queue)?\s*[?.!]*\s*$"
        r"|^\s*(list |show )?(the )?(pending |open |waiting )(refills|rx|renewals)\s*[?.!]*\s*$"
        r"|^\s*refill queue\s*[?.!]*\s*$",
        re.I,
    ),
    "handoffs": re.compile(
        r"^\s*(list |show )?(the )?(pending |open |waiting )?(hand ?offs?|handovers?)\s*[?.!]*\s*$", re.I
    ),
    "resume": re.compile(r"^\s*(resume|unpause|release)\s+(HO-[2-9A-Z]{6})\s*$", re.I),
    "help": re.compile(r"^\s*(help|commands)\s*[?.!]*\s*$", re.I),
}


def staff_command(text: Optional[str]) -> Optional[str]:
    """Which staff command the text is, or None."""
    for name, pattern in COMMAND_PATTERNS.items():
        if pattern.match(text or ""):
            return name
    return None


def is_staff_message(metadata: Optional[Dict[str, Any]]) -> bool:
    return isinstance(metadata, dict) and metadata.get("channel_role") == STAFF_ROLE


def staff_intent(text: Optional[str], intent: Optional[str]) -> str:
    """The intent a staff message is handled as."""
    if staff_command(text):
        return STAFF_COMMAND
    if intent in PATIENT_ONLY_INTENTS:
        return PATIENT_SELF_SERVICE
    if intent in KEPT_INTENTS:
        return intent
    return STAFF_FAQ


def _build_rasa_component() -> type:
    # Imported here: Rasa pulls in TensorFlow, which the helpers above never need.
    from rasa.engine.graph import ExecutionContext, GraphComponent
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.storage.resource import Resource
    from rasa.engine.storage.storage import ModelStorage
    from rasa.shared.nlu.constants import (
        INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, METADATA, PREDICTED_CONFIDENCE_KEY, TEXT,
    )
    from rasa.shared.nlu.training_data.message import Message

    @DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
    class ChannelRoleIntents(GraphComponent):
        @classmethod
        def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
                   execution_context: ExecutionContext) -> GraphComponent:
            return cls()

        def process(self, messages: List[Message]) -> List[Message]:
            for message in messages:
                if not is_staff_message(message.get(METADATA)):
                    continue
                current = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
                wanted = staff_intent(message.get(TEXT), current)
                if wanted != current:
                    intent = {INTENT_NAME_KEY: wanted, PREDICTED_CONFIDENCE_KEY: 1.0}
                    message.set(INTENT, intent, add_to_output=True)
                    message.set(INTENT_RANKING_KEY, [dict(intent)], add_to_output=True)
            return messages

    ChannelRoleIntents.__qualname__ = "ChannelRoleIntents"
    return ChannelRoleIntents


# Built on first use by Rasa (bot/rasa_components.py).
__getattr__ = built_on_first_use(globals(), "ChannelRoleIntents", _build_rasa_component)
