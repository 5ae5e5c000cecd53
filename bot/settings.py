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

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
# Keys of redis-py's parsed URL that Rasa 3.6's RedisTrackerStore and RedisLockStore take as
# they are; host, port, db and TLS (connection_class) are mapped to theirs.
_REDIS_PASSTHROUGH = ("username", "password", "ssl_keyfile", "ssl_certfile", "ssl_ca_certs")
_REDIS_URL_KEYS = ("host", "port", "db", "connection_class", *_REDIS_PASSTHROUGH)



def keep_files_private(var_dir: Path) -> None:
    """Everything this process writes is for its own user only: the practice database and the
    archive hold patient data, and were created readable by every local user (0644 in a 0755
    directory). Also tightens files an earlier version created."""
    os.umask(0o077)
    var_dir.mkdir(parents=True, exist_ok=True)
    var_dir.chmod(0o700)
    for pattern in ("*.db", "*.db-wal", "*.db-shm", "*.db-journal"):
        for path in var_dir.glob(pattern):
            path.chmod(0o600)

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
            # domain.yml's session expiry: patients are told a conversation is cleared after
            # 30 minutes without a message (it was 3600, twice what they were told).
            redis_state_ttl=int(os.environ.get("REDIS_STATE_TTL", "1800")),
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
            redis = self.redis_options()
            endpoints["tracker_store"] = {
                "type": "bot.tracker_store.RedactingRedisTrackerStore",
                **redis,
                # Expire live state instead of keeping it: the durable record is the
                # redacted archive, never the raw tracker.
                "record_exp": self.redis_state_ttl,
                "key_prefix": "clinic",
            }
            endpoints["lock_store"] = {
                "type": "bot.tracker_store.ExpiringRedisLockStore", **redis, "key_prefix": "clinic",
            }
        return endpoints

    def redis_options(self) -> dict:
        """REDIS_URL as the keys Rasa's Redis tracker and lock stores take (`url` is the host).

        Parsed by redis-py, so `rediss://` means TLS and a percent-encoded user or password
        is decoded. A URL those stores cannot honour is refused rather than half-used."""
        from redis.connection import SSLConnection, parse_url

        shape = ("redis://[[user]:password@]host[:port][/db], or rediss://... for TLS "
                 "(optionally ?ssl_ca_certs=, ?ssl_certfile=, ?ssl_keyfile=)")
        try:
            parsed = parse_url(self.redis_url)
        except ValueError as error:
            raise SystemExit(f"REDIS_URL could not be used: {error}. Write it as {shape}.")
        if parsed.get("connection_class") not in (None, SSLConnection):
            raise SystemExit(
                f"REDIS_URL: Rasa's Redis stores connect over TCP only, not a unix socket. "
                f"Write it as {shape}."
            )
        unsupported = sorted(set(parsed) - set(_REDIS_URL_KEYS))
        if unsupported:
            raise SystemExit(
                f"REDIS_URL option(s) {', '.join(unsupported)} cannot be passed to Rasa's Redis "
                f"stores; remove them. Write it as {shape}."
            )
        options: dict = {
            "url": parsed.get("host", "127.0.0.1"),
            "port": parsed.get("port", 6379),
            "db": parsed.get("db", 0),
        }
        options.update({key: parsed[key] for key in _REDIS_PASSTHROUGH if key in parsed})
        if parsed.get("connection_class") is SSLConnection:
            options["use_ssl"] = True
        return options

    def redis_address(self) -> str:
        """Where REDIS_URL points, without its credentials (for messages)."""
        options = self.redis_options()
        scheme = "rediss" if options.get("use_ssl") else "redis"
        return f"{scheme}://{options['url']}:{options['port']}/{options['db']}"

    def check_redis(self) -> None:
        """With REDIS_URL set, Redis must answer before we start: otherwise the server comes
        up looking healthy and every message fails with no reply."""
        if not self.redis_url:
            return
        import redis

        options = self.redis_options()
        client = redis.Redis(
            host=options["url"], port=options["port"], db=options["db"],
            username=options.get("username"), password=options.get("password"),
            ssl=options.get("use_ssl", False), ssl_keyfile=options.get("ssl_keyfile"),
            ssl_certfile=options.get("ssl_certfile"), ssl_ca_certs=options.get("ssl_ca_certs"),
            socket_connect_timeout=5, socket_timeout=5,
        )
        try:
            client.ping()
        except redis.RedisError as error:
            raise SystemExit(
                f"Redis at {self.redis_address()} (REDIS_URL) did not answer ({error}). "
                "Start Redis or correct REDIS_URL (host, port, user and password; rediss:// "
                "when it requires TLS), or unset REDIS_URL to keep live conversation state "
                "in memory on a single server."
            )
        finally:
            client.close()

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
