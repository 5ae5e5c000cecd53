"""Runtime settings of the Rasa side, read once from the environment.

Embedded defaults need nothing installed: live conversation state in memory, files under
$VAR_DIR. Setting REDIS_URL switches live state and the lock store to Redis (with a TTL, so
nothing outlives a conversation), which is what several Rasa workers need to share state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    port: int
    actions_port: int
    log_level: str
    redis_url: Optional[str]
    # Seconds a live conversation is kept in Redis after its last event.
    redis_state_ttl: int
    model_dir: Path
    api_token: Optional[str]

    @classmethod
    def from_env(cls) -> "Settings":
        var_dir = Path(os.environ.get("VAR_DIR", REPO_ROOT / "var")).resolve()
        return cls(
            var_dir=var_dir,
            port=int(os.environ.get("PORT", "5005")),
            actions_port=int(os.environ.get("ACTIONS_PORT", "5055")),
            log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
            redis_url=os.environ.get("REDIS_URL") or None,
            redis_state_ttl=int(os.environ.get("REDIS_STATE_TTL", "3600")),
            model_dir=Path(os.environ.get("MODEL_DIR", REPO_ROOT / "models")).resolve(),
            api_token=os.environ.get("RASA_API_TOKEN") or None,
        )

    @property
    def action_server_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}/webhook"

    def endpoints(self) -> dict:
        """The endpoints.yml content for this environment."""
        endpoints: dict = {
            "action_endpoint": {"url": self.action_server_url},
            "tracker_store": {"type": "bot.tracker_store.RedactingInMemoryTrackerStore"},
            # The durable record of conversations: redacted, off the reply path.
            "event_broker": {"type": "bot.archive_broker.ArchiveEventBroker"},
        }
        if self.redis_url:
            url = urlparse(self.redis_url)
            redis = {
                "url": url.hostname or "127.0.0.1",
                "port": url.port or 6379,
                "db": int((url.path or "/0").lstrip("/") or 0),
                "password": url.password,
            }
            endpoints["tracker_store"] = {
                "type": "bot.tracker_store.RedactingRedisTrackerStore",
                **redis,
                # Expire live state instead of keeping it: the durable record is the
                # redacted archive, never the raw tracker.
                "record_exp": self.redis_state_ttl,
                "key_prefix": "clinic",
            }
            endpoints["lock_store"] = {"type": "redis", **redis, "key_prefix": "clinic"}
        return endpoints

    def write_endpoints(self) -> Path:
        """Write endpoints.yml under $VAR_DIR (it may hold a Redis password, so not in git)."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        path = self.var_dir / "endpoints.yml"
        path.write_text(yaml.safe_dump(self.endpoints(), sort_keys=False))
        path.chmod(0o600)
        return path

    def model_path(self) -> Path:
        """The newest trained model; a clear message when there is none."""
        models = sorted(self.model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if not models:
            raise SystemExit(
                f"No trained model in {self.model_dir}. Run `make train` (or `make run`, "
                "which trains when needed)."
            )
        return models[-1]


def load_content(name: str) -> dict:
    """A practice-editable YAML file from bot/content/ (hours, disclosures, ...)."""
    with open(REPO_ROOT / "bot" / "content" / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}
