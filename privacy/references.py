"""Reference codes the practice issues (RX-7K2P9, HO-M4Q8ZT): made here, never PHI.

A patient reads one back to the front desk and staff search for it in transcripts, so the
redactor must leave it intact. Random codes with several digits look exactly like the bare
identifiers it removes ("reference <ID>" in one text of fifty), so the format lives here,
next to the redactor that protects it.
"""
from __future__ import annotations

import secrets

# Unambiguous when read aloud or typed from a text message: no 0/O, 1/I/L.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
# APT appointment, RX prescription request, HO handoff, EM emergency interrupt,
# LO identity-check lockout, AO AI opt-out.
PREFIXES = ("APT", "RX", "HO", "EM", "LO", "AO")
LENGTHS = (5, 6)

PATTERN = (
    r"(?<![\w-])(?:" + "|".join(PREFIXES) + r")-[" + ALPHABET + r"]{"
    + str(min(LENGTHS)) + "," + str(max(LENGTHS)) + r"}(?![\w-])"
)


def new_reference(prefix: str, length: int = 5) -> str:
    if prefix not in PREFIXES or length not in LENGTHS:
        raise ValueError(f"add {prefix}-{'X' * length} to privacy/references.py first")
    return prefix + "-" + "".join(secrets.choice(ALPHABET) for _ in range(length))
