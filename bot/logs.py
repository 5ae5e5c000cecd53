"""Logging for the Rasa process: Rasa's own set-up, then PHI redaction on every handler.

Rasa logs user text, entities and slot values at DEBUG through both stdlib logging and
structlog (which renders through stdlib handlers), so the redaction filter sits on the
handlers, not on individual loggers.
"""

from __future__ import annotations

import logging


def configure_logging(level_name: str) -> None:
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    from privacy.logging import install_log_redaction

    level = logging.getLevelName(level_name.upper())
    configure_structlog(level)
    configure_logging_and_warnings(level)
    install_log_redaction()
