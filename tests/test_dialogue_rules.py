"""Every form a patient answers questions in can be left the same ways (no model needed).

Inside any of these forms, a request for another task leaves the form and starts that task,
and goodbye or a plain "no (thanks)" leaves it politely. That needs two things to agree for
every form: the form's slots must not take those messages as answers (domain.yml not_intent),
and a rule must say what happens instead (nlu_data/form_switching.yml). A form or a task
added later without both would trap patients again; these tests say which one is missing.
"""

from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DOMAIN = yaml.safe_load((REPO_ROOT / "domain.yml").read_text())

# Each task intent and the form it starts.
TASKS = {
    "book_appointment": "booking_form",
    "reschedule_appointment": "reschedule_form",
    "cancel_appointment": "cancel_form",
    "list_appointments": "appointments_form",
    "request_refill": "refill_form",
    "refill_status": "refill_status_form",
}
# Never an answer in any of these forms: handled by rules, then the question again or an exit.
DIGRESSIONS = {"stop_form", "emergency", "human_handoff", "greet", "ask_hours", "ask_parking",
               "ask_insurance", "ask_new_patient", "ask_visit_prep", "ask_ai_use",
               "ask_what_you_know", "forget_me", "ai_opt_out"}
LEAVING = {"goodbye", "deny"}
# The waiting-for-staff form takes every message on purpose (only an emergency gets past).
PATIENT_FORMS = sorted(set(DOMAIN["forms"]) - {"handoff_wait_form"})


def _rules():
    rules = []
    for path in sorted((REPO_ROOT / "nlu_data").glob("*.yml")):
        rules += (yaml.safe_load(path.read_text()) or {}).get("rules", [])
    return rules


def _text_mappings(form):
    """(slot, not_intent) of every from_text mapping that answers a question of `form`."""
    found = []
    for slot, spec in DOMAIN["slots"].items():
        for mapping in spec.get("mappings", []):
            forms = {c.get("active_loop") for c in mapping.get("conditions", [])}
            if mapping["type"] == "from_text" and form in forms:
                found.append((slot, set(mapping.get("not_intent", []))))
    return found


@pytest.mark.parametrize("form", PATIENT_FORMS)
def test_a_form_takes_its_own_task_as_an_answer_and_nothing_that_leaves_it(form):
    expected = DIGRESSIONS | LEAVING | {intent for intent, target in TASKS.items() if target != form}
    mappings = _text_mappings(form)
    assert mappings, f"{form} has no question answered in words"
    for slot, not_intent in mappings:
        assert not_intent == expected, (
            f"{slot} in {form}: would take {sorted(expected - not_intent)} as an answer, "
            f"and never takes {sorted(not_intent - expected)}")


def _leaves(rule, form, intent):
    steps = rule.get("steps", [])
    return (rule.get("condition") == [{"active_loop": form}] and steps[:3] == [
        {"intent": intent}, {"action": "action_deactivate_loop"}, {"active_loop": None}])


@pytest.mark.parametrize("form", PATIENT_FORMS)
def test_every_other_task_leaves_the_form_and_starts_that_task(form):
    rules = _rules()
    for intent, target in TASKS.items():
        if target == form:
            continue
        matching = [r for r in rules if _leaves(r, form, intent)]
        assert len(matching) == 1, f"no rule (or more than one) for {intent} during {form}"
        assert matching[0]["steps"][3:] == [
            {"action": "action_switch_task"}, {"action": target}, {"active_loop": target}]


@pytest.mark.parametrize("form", PATIENT_FORMS)
@pytest.mark.parametrize("intent", sorted(LEAVING))
def test_goodbye_and_no_thanks_leave_the_form_politely(form, intent):
    matching = [r for r in _rules() if _leaves(r, form, intent)]
    assert len(matching) == 1, f"no rule (or more than one) for {intent} during {form}"
    assert matching[0]["steps"][3:] == [{"action": "action_stop_form"}]


@pytest.mark.parametrize("form", [f for f in PATIENT_FORMS if f != "handoff_form"])
def test_asking_for_a_person_leaves_the_form(form):
    assert any(_leaves(r, form, "human_handoff") and r["steps"][3:] == [{"action": "action_human_handoff"}]
               for r in _rules()), f"no rule for human_handoff during {form}"


def test_the_action_server_loads_every_action_the_domain_names():
    # A helper base class the action server cannot instantiate stops it from starting at all.
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions.registry")
    assert set(DOMAIN["actions"]) <= set(executor.actions)
