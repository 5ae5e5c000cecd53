"""The action server process: rasa-sdk's server with PHI-safe logging and errors.

Differences from `python -m rasa_sdk`: log redaction is installed before anything logs;
only the action modules listed in `actions.registry` are loaded; it listens on 127.0.0.1
by default (only the Rasa server talks to it); and an unhandled error answers with a
generic message instead of rasa-sdk's default, which echoes the request body (the whole
conversation) back.
"""

from __future__ import annotations

import asyncio
import logging
import os

from sanic import response

logger = logging.getLogger(__name__)


def main() -> None:
    from rasa_sdk.endpoint import create_app
    from rasa_sdk.plugin import plugin_manager

    from privacy.logging import install_log_redaction

    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The database drivers log every statement with its parameters (SQLAlchemy's engine at
    # INFO, the drivers at DEBUG): not useful, costly to redact, and the parameters are
    # patient data. Warnings and errors still come through.
    for noisy in ("aiosqlite", "asyncpg", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_log_redaction()
    from pathlib import Path

    from bot.settings import REPO_ROOT, keep_files_private

    keep_files_private(Path(os.environ.get("VAR_DIR") or REPO_ROOT / "var").resolve())
    from actions.verification import check_idle_limit

    check_idle_limit()

    # Migrate (and, unless PRACTICE_DEMO_SEED=0, seed the demo clinic into an empty database)
    # before taking requests.
    from actions.practice import demo_seed_enabled, ensure_schema_and_seed

    asyncio.run(ensure_schema_and_seed(seed_demo=demo_seed_enabled()))
    # dateparser builds its caches on first use: do it now, not on a patient's first message.
    from actions.common import practice_tz
    from actions.scheduling import warm_up

    warm_up(practice_tz())
    # The handbook's passage vectors are built (or read from $VAR_DIR/cache) now, in the
    # background, rather than on the first staff question.
    import threading

    from actions.handbook import get_handbook

    threading.Thread(target=lambda: get_handbook().sections, name="handbook-warm-up",
                     daemon=True).start()

    app = create_app("actions.registry", cors_origins=None)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)

    async def generic_error(request, exception):
        logger.error("Action failed with %s", type(exception).__name__)
        return response.json({"error": "action failed"}, status=500)

    app.error_handler.add(Exception, generic_error)

    async def bind_conversation(request):
        # Everything this conversation told the bot is redacted from this request's logs.
        from privacy.conversation import conversation_known_values
        from privacy.logging import add_known_values

        try:
            tracker = (request.json or {}).get("tracker") or {}
            add_known_values(conversation_known_values(tracker.get("slots") or {}, tracker.get("events") or []))
        except Exception:  # noqa: BLE001 - rasa-sdk answers a malformed body itself
            pass

    app.register_middleware(bind_conversation, "request")
    host = os.environ.get("ACTIONS_HOST", "127.0.0.1")
    port = int(os.environ.get("ACTIONS_PORT", "5055"))
    app.run(host, port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
