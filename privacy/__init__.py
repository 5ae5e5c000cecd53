"""PHI redaction for the clinic assistant. See privacy/engine.py and privacy/logging.py."""
