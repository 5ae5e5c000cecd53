"""An intent that acts has to be said.

The classifier's character n-grams sometimes read a bare answer as an intent that does
something. Inside a form that is costly: a name read as "no" ("nolan testwood"), "bye"
("Helen Byers") or "stop" ("Byron Quitman") ended the form; a new time read as a booking
("is next thursday ok?" while moving an appointment) left the reschedule and started a
second booking; a name read as a refill ("Synthia Generata") switched to a refill; "sunday"
read as a greeting got the "I'm waiting for your answer" help; a question ("can the AI
diagnose me") read as the AI opt-out recorded an opt-out in the care record; and after a
retrain "3 pls" read as asking for a person and "sometime next week pls" as moving an
appointment.

Every way of saying these intents that patients use (nlu_data/nlu/, tests/nlu/test_nlu.yml,
checked by tests/test_intent_words.py) has one of the intent's own words in it, so this
component keeps the intent only when the text has one. Otherwise the message is a bare
answer (`inform`), which a form takes as the answer to its question; an opt-out without a
refusal that talks about AI, or one asked as a question ("can i opt out of the ai?"), is a
question about AI (`ask_ai_use`).

Medicine names for refills come from bot/content/medications.yml (generic and brand names),
read when this module is loaded (a restart picks up edits), plus common endings of generic
names, so a medicine the file does not list ("i'm out of my ramipril") still reads as one.
"""

# No `from __future__ import annotations`: Rasa resolves the component's type hints at run
# time, and the classes they name are local to _build_rasa_component.
import re
from typing import Any, Dict, List, Optional

from bot.rasa_components import built_on_first_use, put_intent_first
from bot.settings import load_content

BARE_ANSWER = "inform"


def _words(pattern: str) -> "re.Pattern[str]":
    """Whole words and phrases, matched on the lowercased text with apostrophes dropped."""
    return re.compile(r"\b(" + pattern + r")\b")


def _medicine_names() -> str:
    """Generic and brand names, and what patients say they are for ("my thyroid meds")."""
    names = set()
    for generic, entry in (load_content("medications.yml").get("medications") or {}).items():
        names.add(generic.lower())
        names.update(str(brand).lower() for brand in (entry or {}).get("brands") or [])
        names.update(str(use).lower() for use in (entry or {}).get("for") or [])
    return "|".join(re.escape(name).replace(r"\ ", r"\s+") for name in sorted(names, key=len, reverse=True))


# Endings of generic drug names (ACE inhibitors -pril, statins, beta blockers -olol, ...).
DRUG_ENDINGS = (
    r"\w+(pril|statin|olol|sartan|dipine|apine|azepine|formin|prazole|zole|cillin|mycin|cycline|floxacin|"
    r"oxetine|traline|alopram|thyroxine|tidine|triptan|azepam|zolam|codone|gliptin|glutide|"
    r"gliflozin|lukast|asone|isone|olone|thiazide|semide|tadine|afil|dronate|xaban|parin)"
)

REFUSAL = (
    r"no+|not|never|dont|do not|wont|stop|opt(s|ed|ing)? ?(\w+ )?out|out of|(me|us|it) out|without|"
    r"refuse|rather|prefer|decline|object|withdraw|exclude|remove|disable|turn (it )?off|away|"
    r"only|human only|humans only|real (person|people|doctors?)|unsubscribe|leave me out"
)

INTENT_WORDS = {
    # Leaving a form: "no thanks", "bye", "stop".
    "deny": _words(
        r"no+|nope?s?|nah+|nay|n|not|never|negative|nothing|none|neither|wrong|incorrect|"
        r"keep|rather|dont|do not|wont|isnt|doesnt|didnt|cant|wasnt|arent|havent|hasnt|"
        r"wouldnt|shouldnt|couldnt|cancel|stop|nvm"
    ),
    "goodbye": _words(
        r"bye+|goodbye|good ?night|night|see (you|ya)|cya|later|laters|ttyl|thanks?|thx|ty|"
        r"tysm|cheers|farewell|ciao|peace|done|all set|thats? (all|it|everything)|that is all|"
        r"that will be all|nothing (else|more)|gotta go|got to (go|run)|have a \w+ (day|evening|night|weekend)|"
        r"take care|appreciate|until next time"
    ),
    "stop_form": _words(
        r"stop(s|ping|ped)?|never ?mind|nvm|forget|cancel(led|ling)?|changed? my mind|quit|abort|exit|start over|"
        r"scrap|scratch|end|halt|drop it|dont (bother|want)|do not want|lets not|not now|not doing|"
        r"later|call instead|ill call|back out|get me out|skip|leave it|undo|give up|think about it|"
        r"no longer|come back"
    ),
    # Inside a form, a greeting or "help"/"menu" gets the how-to-go-on help instead of an
    # answer; "sunday" at "When would suit you?" is an answer.
    "greet": _words(
        r"h+i+|hiya|he+y+a?|hel+o+|hallo|howdy|yo|sup|wassup|gm|greetings|"
        r"good (mornin\w*|afternoon|evening|day)|^(morning|afternoon|evening)|"
        r"help|menu|(my|the) options|can (you|u) do|what (do|can) (you|u|i)|services|how does this work|chat for|"
        r"hi bot|assistant|anyone there"
    ),
    # Starting another task: a time or a name is not a booking or a refill.
    "book_appointment": _words(
        r"bo+k\w*|(appo|apo|appn|appt|apt)\w*|sched\w*|visits?|vist|consult\w*|"
        r"see (a|an|the|my|some|any)? ?(doc\w*|dr\w*|nurse|someone|somebody|provider|physician|np|pa)|"
        r"see (you|u)|see me|(be|get|got) seen|seen (for|this|today|tomorrow|soon)|can (he|she|they) be seen|"
        r"slots?|openings?|availability|available|spots?|"
        r"(anything|any|times?|slots?|days?|spots?|whats|what) (\w+ )?(open|free)|"
        r"(do|have) (yo)?u (have|got)|have you got|(yo)?u got|is there anything|anything (on|later|earlier|before|after)|"
        r"come in|get (me )?in|fit (me )?in|(pop|drop|walk|stop) (in|by)|squeeze|reserve|set (me )?up|sign (me )?up|"
        r"earliest|soonest|cancellations|"
        r"check ?-?ups?|checked( out)?|physicals?|shots?|jabs?|boosters?|vaccin\w*|tetanus|follow ?-?ups?|"
        r"blood ?(test|work)|tests?|testing|screening|x-?rays?|labs?|ultrasound|telehealth|new patient|sick visit|exams?"
    ),
    "request_refill": _words(
        r"re-?fill\w*|refil\w*|prescri\w*|perscri\w*|scripts?|rx|meds?|medications?|medicines?|"
        r"pills?|inhalers?|pharmacy|cvs|walgreens|run(ning)? (out|low)|ran out|out of|almost out|"
        r"renew\w*|reorder|insulin|nitro\w*|"
        + _medicine_names() + "|" + DRUG_ENDINGS
    ),
    "reschedule_appointment": _words(
        r"re-?sch\w*|res[ck]\w*|re-?book\w*|re-?arrange\w*|mov\w*|chang\w*|switch\w*|swap|shift|push\w*|"
        r"postpone|delay|forward|earlier|later|different|another|new (time|date|day)|"
        r"(cant|cannot|can not|wont|not able to|unable to|no longer) (make|come|do|be)|"
        r"came up|conflict|clash\w*|stuck|update"
    ),
    # Asking for a person leaves any form: "3 pls" at a numbered choice is the choice.
    "human_handoff": _words(
        r"person|people|human|humans|someone|somebody|staff|agent|rep|representative|operator|receptionist|"
        r"nurse|doctors?|front desk|office|customer service|live|real|transfer|connect|put me through|"
        r"take over|call\w*|ring|phone|talk|speak|chat with|"
        r"useless|pointless|stupid|annoying|frustrat\w*|fed up|had enough|not help\w*|no help|"
        r"(dont|not) (understand|get it)|\w*understand\w*|not working|isnt (working|helping)|wrong|"
        r"not what i asked|wasting|forget this"
    ),
    # Opting out of AI is recorded in the care record: it has to be a refusal.
    "ai_opt_out": _words(REFUSAL),
}

# Asking whether one can opt out ("can i opt out of the ai?") is a question, not the opt-out.
ASKING = re.compile(r"^\s*((can|could|may) i|how|is it|am i|what|does|will)\b")

# What an intent without its words becomes, when not a bare answer.
ABOUT_AI = _words(r"ai|a\.i|artificial intelligence|robots?|bots?|computers?|machines?|algorithms?|automated|scribe")


# "The one with dr hopperfake", "that one on monday": pointing at something already listed
# (at "Which appointment...?"), never a new task, though the classifier read it as booking.
POINTING_AT_ONE = re.compile(r"^\W*(?:the|that|this)\s+(?:\w+\s+){0,3}?one\b")
TASK_INTENTS = frozenset({"book_appointment", "reschedule_appointment", "cancel_appointment"})


def checked_intent(text: Optional[str], intent: Optional[str]) -> Optional[str]:
    """The intent a message keeps: an acting intent without its words becomes a bare answer,
    and so does a task intent for a message that points at one of a list ("the one on monday")."""
    words = INTENT_WORDS.get(intent or "")
    plain = (text or "").lower().replace("'", "").replace("’", "")
    if intent == "ai_opt_out" and ASKING.match(plain):
        return "ask_ai_use"
    if intent in TASK_INTENTS and POINTING_AT_ONE.search(plain):
        return BARE_ANSWER
    if words is None or words.search(plain):
        return intent
    if intent == "ai_opt_out" and ABOUT_AI.search(plain):
        return "ask_ai_use"
    return BARE_ANSWER


def _build_rasa_component() -> type:
    # Imported here: Rasa pulls in TensorFlow, which the helpers above never need.
    from rasa.engine.graph import ExecutionContext, GraphComponent
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.storage.resource import Resource
    from rasa.engine.storage.storage import ModelStorage
    from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, TEXT
    from rasa.shared.nlu.training_data.message import Message

    @DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
    class IntentWordsCheck(GraphComponent):
        @classmethod
        def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
                   execution_context: ExecutionContext) -> GraphComponent:
            return cls()

        def process(self, messages: List[Message]) -> List[Message]:
            for message in messages:
                intent = dict(message.get(INTENT) or {})
                wanted = checked_intent(message.get(TEXT), intent.get(INTENT_NAME_KEY))
                if wanted != intent.get(INTENT_NAME_KEY):
                    put_intent_first(message, {**intent, INTENT_NAME_KEY: wanted})
            return messages

    IntentWordsCheck.__qualname__ = "IntentWordsCheck"
    return IntentWordsCheck


# Built on first use by Rasa (bot/rasa_components.py).
__getattr__ = built_on_first_use(globals(), "IntentWordsCheck", _build_rasa_component)
