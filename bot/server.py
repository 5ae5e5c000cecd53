"""The Rasa server process: Rasa's own HTTP server plus what a practice needs around it.

We build the Sanic app with Rasa's `configure_app` (so Rasa's channels, API and agent
loading are the stock ones) and add three things before it starts:
- the chat page and widget assets at `/` and `/widget/`;
- an allow-list in front of Rasa's HTTP API: only `/model/parse`, `/version` and `/status`
  are open (load balancers poll /status); the conversation and model-management endpoints
  (which expose or change raw conversation state) need RASA_API_TOKEN, sent as
  `Authorization: Bearer <token>` or `?token=`, and are closed when it is not set;
- no stack trace or request echo in any error response.
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
import warnings
from functools import partial
from pathlib import Path

from sanic import Sanic, response
from sanic.request import Request

from bot.settings import REPO_ROOT, Settings, keep_files_private
from privacy.logging import OPERATIONAL

logger = logging.getLogger(__name__)

WIDGET_DIR = REPO_ROOT / "connectors" / "static"
CREDENTIALS = REPO_ROOT / "bot" / "credentials.yml"
OPEN_API_PATHS = ("/model/parse", "/version", "/status")
# A chat message, an SMS webhook (a few kB) or a Slack event is far below this. A bigger body
# on an open path is refused before anything parses it: parsing 90 MB of form data held the
# whole server (every patient on every channel) for about 30 seconds.
MAX_OPEN_BODY_BYTES = 256 * 1024


def _is_open_path(path: str) -> bool:
    return (
        path == "/"
        or path.startswith("/widget")
        or path.startswith("/webhooks/")
        or path in OPEN_API_PATHS
    )


def _has_api_token(request: Request, api_token: str) -> bool:
    offered = [request.args.get("token") or ""]
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        offered.append(credentials.strip())
    expected = api_token.encode()
    return any(hmac.compare_digest(token.encode(), expected) for token in offered if token)


def bind_request_text(request: Request) -> None:
    """The message in a webhook body is PHI until proven otherwise: bind it for redaction
    before any handler (or Rasa's DEBUG logging) sees it. Runs for the request's task only."""
    if request.method != "POST":
        return
    from privacy.conversation import message_known_values
    from privacy.logging import add_known_values

    texts = []
    try:
        if "json" in (request.content_type or ""):
            body = request.json or {}
            text = body.get("message") or body.get("text") if isinstance(body, dict) else None
            if text is None and request.path.startswith("/webhooks/slack"):
                from connectors.slack import message_texts  # Slack Events API: event.text

                texts = message_texts(body)
        else:
            text = request.form.get("Body") or request.form.get("text")
    except Exception:  # noqa: BLE001 - a malformed body is the channel's to reject
        return
    add_known_values([value for t in [text, *texts] for value in message_known_values(t)])


def add_practice_routes(app: Sanic, settings: Settings) -> None:
    index_page = WIDGET_DIR / "index.html"

    async def guard_and_serve_root(request: Request):
        if _is_open_path(request.path) and len(request.body or b"") > MAX_OPEN_BODY_BYTES:
            return response.json(
                {"error": "That message is too long. Please send a shorter one, or call the clinic."},
                status=413,
            )
        bind_request_text(request)
        path = request.path.rstrip("/") or "/"
        if path == "/" and request.method in ("GET", "HEAD"):
            return await response.file(index_page, mime_type="text/html; charset=utf-8")
        if _is_open_path(request.path) or request.method == "OPTIONS":
            return None
        if settings.api_token and _has_api_token(request, settings.api_token):
            return None
        return response.json(
            {"error": "This endpoint needs the API token: set RASA_API_TOKEN on the server and "
                      "send it as `Authorization: Bearer <token>` or `?token=<token>`."},
            status=403,
        )

    app.register_middleware(guard_and_serve_root, "request")
    app.static("/widget", str(WIDGET_DIR), name="widget_assets")

    async def generic_error(request: Request, exception: Exception):
        status = getattr(exception, "status_code", 500)
        if status >= 500:
            # Log the type only: the exception text may quote the message being handled.
            logger.error("Unhandled %s on %s", type(exception).__name__, request.path)
            message = "Something went wrong on our side. Please try again, or call the clinic."
        else:
            message = "That request could not be handled."
        return response.json({"error": message}, status=status)

    app.error_handler.add(Exception, generic_error)


def _redact_sms_outbox() -> None:
    """The development SMS outbox is a file: what goes into it is redacted like a log line."""
    from connectors.sms import set_outbox_redactor
    from privacy.logging import DROPPED_LINE, redact_log_text

    set_outbox_redactor(lambda body: redact_log_text(body) or DROPPED_LINE)


def bind_identity_from_action(result) -> None:
    """Names an action learned from the practice record this turn (the first name on file at
    verification, dependants' names) were not known when the request began; bind them now,
    before Rasa logs the action's events (DEBUG) or saves them to the archive."""
    from privacy.conversation import conversation_known_values
    from privacy.logging import add_known_values

    events = result.get("events") if isinstance(result, dict) else None
    slots = {e.get("name"): e.get("value") for e in events or []
             if isinstance(e, dict) and e.get("event") == "slot"}
    if slots:
        add_known_values(conversation_known_values(slots, []))


def check_action_replies_with_a_compiled_schema() -> None:
    """Rasa checks every action-server reply with `jsonschema.validate(reply, schema)`, which
    also re-checks the (constant) schema against jsonschema's meta-schema on every call.
    Profiled under `make bench`, that re-check was about 40% of the validation and the
    validation about a third of this process's CPU per message. Here the schema is checked
    once and its validator reused: same schema, same validator class, same error raised."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction._validate_action_result, "compiled_schema", False):
        return  # already installed in this process
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    stock = RemoteAction._validate_action_result

    def _validate_action_result(self, result):
        bind_identity_from_action(result)
        if validator.is_valid(result):
            return True
        return stock(self, result)  # invalid: let Rasa raise its own error, with its message

    _validate_action_result.compiled_schema = True
    RemoteAction._validate_action_result = _validate_action_result


class ModelNotLoaded(RuntimeError):
    """Raised before the server takes requests: Rasa only logs a model it cannot load, and
    its server would then answer every message, emergencies included, with nothing."""


async def load_agent_or_stop(model_path: str, endpoints, app: Sanic, loop) -> None:
    """Rasa's `load_agent_on_start`, refusing to serve without a working model."""
    from rasa.core.agent import load_agent

    app.ctx.agent = await load_agent(model_path=model_path, endpoints=endpoints, loop=loop)
    if not app.ctx.agent.is_ready():
        raise ModelNotLoaded(
            f"The model {model_path} could not be loaded (the reason is logged above). "
            f"Move it out of {Path(model_path).parent} and run `make train` to train a new one "
            "(make retrains only when the model is missing or older than its training data), "
            "then start the assistant again."
        )
    logger.info("Rasa server is up and running.")


class _NoTracebackForModelNotLoaded(logging.Filter):
    """Sanic logs whatever ends `app.run` with a traceback; our message says all there is."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ModelNotLoaded))


def build_app(settings: Settings) -> Sanic:
    from rasa.core import run
    from rasa.core.utils import AvailableEndpoints

    check_action_replies_with_a_compiled_schema()

    endpoints = AvailableEndpoints.read_endpoints(str(settings.write_endpoints()))
    channels = run.create_http_input_channels(None, str(CREDENTIALS))
    app = run.configure_app(
        channels,
        cors=None,
        # The token is checked by `add_practice_routes`' allow-list, not by Rasa: Rasa would
        # demand it on every API route, /status and /model/parse included, and only as ?token=.
        auth_token=None,
        enable_api=True,
        port=settings.port,
        endpoints=endpoints,
    )
    add_practice_routes(app, settings)
    _redact_sms_outbox()
    app.register_listener(
        partial(load_agent_or_stop, str(settings.model_path()), endpoints), "before_server_start"
    )
    app.register_listener(run.close_resources, "after_server_stop")
    return app


def main() -> None:
    from bot.logs import configure_logging

    settings = Settings.from_env()
    keep_files_private(settings.var_dir)
    configure_logging(settings.log_level)
    settings.check_redis()  # also when this process is started without the launcher
    app = build_app(settings)
    host = os.environ.get("HOST", "0.0.0.0")
    logger.info("Clinic assistant listening on http://%s:%s/", host, settings.port, extra=OPERATIONAL)
    # One worker: with the in-memory tracker store, workers would not share conversations.
    # Scaled deployments run several of these processes behind a load balancer with Redis.
    logging.getLogger("sanic.error").addFilter(_NoTracebackForModelNotLoaded())
    try:
        app.run(host=host, port=settings.port, workers=1, access_log=False)
    except ModelNotLoaded as error:
        # Sanic made the listening socket's coroutine before the listener stopped it.
        warnings.filterwarnings("ignore", "coroutine .*create_server.* was never awaited")
        sys.exit(str(error))  # exit code 1: the launcher (or a service manager) reports it


if __name__ == "__main__":
    main()
