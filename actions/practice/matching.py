"""How typed names, phone numbers and search words are compared with stored ones."""

from __future__ import annotations

import re
import unicodedata
from typing import Optional, Set

import phonenumbers

_APOSTROPHES = re.compile(r"['\u2019\u02bc`\u00b4]")
# Letters of any script are kept ("Анна Петрова" must match itself); everything else,
# underscore included, separates words.
_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")
# Latin letters that Unicode does not decompose into base letter + accent, written the way a
# patient on an English keyboard types them ("Søren Łukasz" as "soren lukasz").
_UNDECOMPOSED_LATIN = str.maketrans({
    "ø": "o", "đ": "d", "ð": "d", "ł": "l", "ħ": "h", "ı": "i", "ŧ": "t",
    "æ": "ae", "œ": "oe", "þ": "th",
})


def fold_text(text: str) -> str:
    """Lower-case, accent-free, punctuation as single spaces: "  Zoë  O'Exámple-Smith "
    -> "zoe oexample smith"; "Søren" -> "soren"; other scripts keep their letters.

    Stored keys (patients.name_key, pharmacies.search_name) are made with this: a change
    here needs a migration that recomputes them (see migrations 0003)."""
    decomposed = unicodedata.normalize("NFKD", text)
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = _APOSTROPHES.sub("", without_marks.casefold()).translate(_UNDECOMPOSED_LATIN)
    return _NOT_LETTER_OR_DIGIT.sub(" ", folded).strip()


def name_key(first_name: str, last_name: str) -> str:
    return fold_text(f"{first_name} {last_name}")


def name_keys_for_input(full_name: str) -> Set[str]:
    """Stored keys a typed name may correspond to.

    "Last, First" is turned around; a middle name or initial typed between first and last
    name is also tried without it (the date of birth still has to match)."""
    if "," in full_name:
        last, _, first = full_name.partition(",")
        typed = fold_text(f"{first} {last}")
    else:
        typed = fold_text(full_name)
    if not typed:
        return set()
    keys = {typed}
    tokens = typed.split()
    if len(tokens) >= 3:
        keys.add(f"{tokens[0]} {tokens[-1]}")
    return keys


def e164_phone(phone: str, region: str = "US") -> Optional[str]:
    """"(312) 555-0101", "312.555.0101", "+1 312 555 0101" -> "+13125550101"; None if it is
    not a plausible number."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    # IS_POSSIBLE_LOCAL_ONLY (a 7-digit number without area code) is not enough to match.
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_in(text: str, region: str = "US") -> Optional[str]:
    """The first whole phone number in a message ("call me back at 312-555-0188"), E.164."""
    for match in phonenumbers.PhoneNumberMatcher(text or "", region, leniency=phonenumbers.Leniency.POSSIBLE):
        number = e164_phone(match.raw_string, region)
        if number is not None:
            return number
    return None
