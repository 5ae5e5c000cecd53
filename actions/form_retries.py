"""A form asks the same question again only a couple of times.

A patient who cannot answer a question, or keeps typing something the form cannot use, is
not asked it forever: the question is asked again twice, and the third answer in a row that
the form cannot use ends the form with the menu and a person offered instead. Nothing
half-done is kept.

An answer the form could not use (a "miss"): the patient's message was taken as the answer to
the question asked and the validation turned it down, i.e. the asked slot stays empty, the
same question comes next, and nothing else moved on (offered times paging on, the count of
failed identity checks, which has its own limit in actions/verification.py, ...). Messages
that are no answer at all (a digression, another task, goodbye) never get here: rules handle
them (nlu_data/rules.yml, nlu_data/form_switching.yml). The fallback action counts the
messages a yes/no question cannot take the same way (actions/conversation.py).

Domain setup it needs: a float slot `form_reasks` (custom mapping, not featurised); leaving a
form by any way resets it (actions.conversation.reset_form_slots).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.common import clinic

MAX_MISSES = 3
REASKS_SLOT = "form_reasks"


def misses_so_far(tracker: Tracker) -> int:
    return int(tracker.get_slot(REASKS_SLOT) or 0)


def give_up(dispatcher: CollectingDispatcher) -> List[EventType]:
    """Leave the form after too many misses: the menu and a person, and nothing kept."""
    # Imported here: actions.conversation imports the form modules that import this one.
    from actions.conversation import leave_form_events, menu_buttons

    dispatcher.utter_message(
        text=(
            "Sorry, I'm still not able to use that, so I've stopped here and nothing has been "
            "booked or changed. Choose what you'd like to do below, or \"Talk to a person\" "
            f"(you can also call us on {clinic()['phone_display']})."
        ),
        buttons=menu_buttons(),
    )
    # ActiveLoop(None) ends the form; the follow-up ends the turn here, so the form's
    # finishing action (which would report on a task that never finished) does not run.
    return leave_form_events() + [
        SlotSet("requested_slot", None), ActiveLoop(None), FollowupAction("action_listen"),
    ]


def _slot_values(events: List[Dict[Text, Any]]) -> Dict[Text, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def was_miss(events: List[Dict[Text, Any]], before: Dict[Text, Any]) -> bool:
    """Whether the validation turned down the patient's answer to the question asked.

    `before`: the slots as they were when the validation started (the answer included).
    """
    asked = before.get("requested_slot")
    after = _slot_values(events)
    if after.get(asked, before.get(asked)) is not None:
        return False
    if after.get("requested_slot", asked) != asked:
        return False
    ignored = {asked, "requested_slot", REASKS_SLOT}
    return all(value == before.get(name) for name, value in after.items() if name not in ignored)


class RetryLimitedFormValidation(FormValidationAction, ABC):
    """Form validation that stops re-asking after MAX_MISSES unusable answers in a row."""

    @abstractmethod
    def name(self) -> Text:
        """validate_<form name> (abstract, so the action server does not load this class)"""

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        already_said = len(dispatcher.messages)
        before = dict(tracker.slots)  # rasa_sdk updates tracker.slots while validating
        answered = tracker.slots_to_validate().get(before.get("requested_slot")) is not None
        events = await super().run(dispatcher, tracker, domain)
        if not answered:
            # No answer to the question this turn (the form starting, or coming back after a
            # digression). Adding a slot event here would stop Rasa from rejecting the form
            # for a message that is no answer, so the rules for it would never run.
            return events
        misses = int(before.get(REASKS_SLOT) or 0)
        if not was_miss(events, before):
            return events + ([SlotSet(REASKS_SLOT, 0)] if misses else [])
        misses += 1
        if misses < MAX_MISSES:
            return events + [SlotSet(REASKS_SLOT, misses)]
        del dispatcher.messages[already_said:]  # not "please type it like ..." and then stop
        return give_up(dispatcher)

    async def get_validation_events(self, dispatcher, tracker, domain) -> List[EventType]:
        # rasa_sdk validates every slot event at the end of the tracker, and the action that
        # starts a form often ends by clearing slots (reset_form_slots): a cleared slot is no
        # answer. Validated, it gave "I couldn't read that as a phone number" before the
        # phone question had been asked (session 15 black-box test).
        return await super().get_validation_events(dispatcher, _without_cleared_candidates(tracker), domain)


def _without_cleared_candidates(tracker: Tracker) -> Tracker:
    events = list(tracker.events)
    start = len(events)
    while start > 0 and events[start - 1].get("event") == "slot":
        start -= 1
    if all(e.get("value") is not None for e in events[start:]):
        return tracker
    trimmed = tracker.copy()
    trimmed.events = events[:start] + [e for e in events[start:] if e.get("value") is not None]
    return trimmed
