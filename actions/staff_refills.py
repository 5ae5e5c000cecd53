"""`make staff-refills` / `python -m actions.staff_refills`: the staff review queue for refill
requests in the embedded practice system.

  list [--status pending|approved|denied|needs_appointment|all]   (default: pending)
  approve REFERENCE [--note TEXT]
  deny REFERENCE [--note TEXT]
  needs-appointment REFERENCE [--note TEXT]
  opt-outs        patients who said they do not want AI in their care, by the AO-... reference
                  staff were sent in Slack, to flag in the care record

This runs on a practice workstation for staff, so the list shows the patient's name and the
medicine; nothing it prints is written anywhere. When a request is decided, a patient who
asked by text message gets a text (through Twilio when TWILIO_* is configured, else the dev
outbox $VAR_DIR/outbox/sms.jsonl) unless they have texted STOP; a web patient sees the
decision when they ask for their refill status. The text names the reference and the
pharmacy, never the medicine: a text message can be read by whoever holds the phone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import List, Optional

from actions.practice import close_practice_system, get_practice_system
from actions.practice.port import (
    REFILL_APPROVED,
    REFILL_DENIED,
    REFILL_KIND_RENEWAL,
    REFILL_NEEDS_APPOINTMENT,
    REFILL_STATUSES,
    NotFound,
    RefillAlreadyDecided,
    RefillRequest,
)

DECISIONS = {
    "approve": REFILL_APPROVED,
    "deny": REFILL_DENIED,
    "needs-appointment": REFILL_NEEDS_APPOINTMENT,
}


def decision_text(request: RefillRequest, clinic_phone: str) -> str:
    """The text an SMS patient gets when staff decide."""
    ref = request.reference
    if request.status == REFILL_APPROVED:
        return f"Your prescription request {ref} was approved and sent to {request.pharmacy_name}."
    if request.status == REFILL_NEEDS_APPOINTMENT:
        return (f"About your prescription request {ref}: the prescriber would like to see you "
                f"first. Text \"book an appointment\" to book, or call us on {clinic_phone}.")
    return (f"Your prescription request {ref} was not approved. Please call us on "
            f"{clinic_phone} to talk it through.")


async def text_patient(request: RefillRequest) -> Optional[str]:
    """Text an SMS patient the decision; returns how it went, for the staff member."""
    from actions.common import clinic
    from connectors.sms import SmsSettings
    from connectors.sms_outbound import OutboxSender, SendFailed, TwilioRestSender
    from connectors.sms_state import OptOutStore, keyed_sender_id

    if request.channel != "sms":
        return None
    # The person who asked gets the answer: a guardian who asked for a teenager with a phone
    # of their own is texted, not the teenager. Requests from before requested_by was kept
    # fall back to the patient, and a patient without a phone to their guardian.
    patient = await get_practice_system().get_patient(request.requested_by_id or request.patient_id)
    if patient.phone is None and patient.guardian_id is not None:
        patient = await get_practice_system().get_patient(patient.guardian_id)
    if not patient.phone:
        return "no phone on file: the patient was not texted"
    settings = SmsSettings.from_env()
    sender_id = keyed_sender_id(settings.sender_secret, patient.phone)
    if await OptOutStore(settings.var_dir / "sms_optouts.db").is_opted_out(sender_id):
        return "the patient has opted out of texts: not texted"
    if settings.sends_through_twilio:
        sender = TwilioRestSender(settings.account_sid, settings.auth_token, settings.from_number,
                                  settings.messaging_service_sid, api_base=settings.twilio_api_base)
    else:
        sender = OutboxSender(settings.outbox_path)
    try:
        await sender.send(sender_id, patient.phone, decision_text(request, clinic()["phone_display"]))
    except SendFailed:
        return "the text could not be sent (see the log); please call the patient"
    finally:
        await sender.close()
    await get_practice_system().mark_refill_patient_notified(request.reference)
    return "the patient was texted"


async def list_requests(status: Optional[str]) -> List[str]:
    system = get_practice_system()
    lines = []
    for request in await system.refill_queue(status):
        patient = await system.get_patient(request.patient_id)
        kind = "RENEWAL" if request.kind == REFILL_KIND_RENEWAL else "refill"
        lines.append(
            f"{request.reference}  {request.created_at:%Y-%m-%d %H:%M}  {request.status:<17} "
            f"{kind:<7} {patient.first_name} {patient.last_name} ({patient.date_of_birth:%m/%d/%Y})"
            f"  {request.medication_name}  -> {request.pharmacy_name}  [{request.channel}]"
        )
    return lines


async def list_ai_opt_outs() -> List[str]:
    system = get_practice_system()
    lines = []
    for opt_out in await system.ai_opt_outs():
        patient = await system.get_patient(opt_out.patient_id)
        lines.append(f"{opt_out.reference or '(no ref)':<9} {opt_out.recorded_at:%Y-%m-%d %H:%M}  "
                     f"{patient.first_name} {patient.last_name} ({patient.date_of_birth:%m/%d/%Y})  "
                     f"disclosure {opt_out.disclosure_version}")
    return lines


async def main_async(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.staff_refills", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    listing = commands.add_parser("list", help="show requests (default: pending)")
    listing.add_argument("--status", default="pending", choices=[*REFILL_STATUSES, "all"])
    for name in DECISIONS:
        decide = commands.add_parser(name, help=f"{name} a request")
        decide.add_argument("reference")
        decide.add_argument("--note", default=None)
    commands.add_parser("opt-outs", help="AI opt-outs to flag in the care record")
    args = parser.parse_args(argv)
    try:
        if args.command == "opt-outs":
            lines = await list_ai_opt_outs()
            print("\n".join(lines) if lines else "No AI opt-outs recorded.")
            return 0
        if args.command in (None, "list"):
            status = getattr(args, "status", "pending")
            lines = await list_requests(None if status == "all" else status)
            print("\n".join(lines) if lines else f"No {status} refill requests.")
            if args.command is None:
                print("\nDecide with: make staff-refills ARGS='approve|deny|needs-appointment RX-XXXXX [--note ...]'")
            return 0
        try:
            request = await get_practice_system().set_refill_status(
                args.reference, DECISIONS[args.command], args.note)
        except NotFound:
            print(f"No refill request {args.reference!r}. `make staff-refills` lists them.", file=sys.stderr)
            return 2
        except RefillAlreadyDecided as decided:
            # A typo or an old reference must not overturn a decision the patient was told of.
            print(f"{decided} `make staff-refills ARGS='list --status all'` shows it.", file=sys.stderr)
            return 2
        print(f"{request.reference} is now {request.status}.")
        outcome = await text_patient(request)
        print(outcome or "The patient asked on the web and will see this when they ask for their refill status.")
        return 0
    finally:
        await close_practice_system()


def main(argv: Optional[List[str]] = None) -> int:
    return asyncio.run(main_async(argv))


if __name__ == "__main__":
    sys.exit(main())
