"""Shared fixtures for the privacy tests: one analyzer per test session (spaCy loads in ~1 s)."""
import dataclasses
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PRACTICE_NAME = "Sunrise Family Clinic"
PRACTICE_PHONE = "(512) 555-0100"


@pytest.fixture(scope="session")
def redactor():
    from privacy.engine import Redactor
    from privacy.settings import get_settings

    settings = dataclasses.replace(get_settings(), practice_name=PRACTICE_NAME, practice_phone=PRACTICE_PHONE)
    return Redactor(settings)
