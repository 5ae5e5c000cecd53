"""bot/settings.py: what REDIS_URL becomes in the Rasa endpoints, and the start-up check of it."""

from __future__ import annotations

import pytest

from bot.settings import Settings


def _settings(monkeypatch, tmp_path, redis_url):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", redis_url)
    return Settings.from_env()


def test_a_tls_redis_url_keeps_tls_the_username_and_the_decoded_password(monkeypatch, tmp_path):
    endpoints = _settings(monkeypatch, tmp_path, "rediss://clinic:p%40ss@redis.example:6380/2").endpoints()
    for store in (endpoints["tracker_store"], endpoints["lock_store"]):
        assert store["url"] == "redis.example"
        assert store["port"] == 6380
        assert store["db"] == 2
        assert store["username"] == "clinic"
        assert store["password"] == "p@ss"
        assert store["use_ssl"] is True
    assert endpoints["tracker_store"]["type"] == "bot.tracker_store.RedactingRedisTrackerStore"
    assert endpoints["lock_store"]["type"] == "bot.tracker_store.ExpiringRedisLockStore"


def test_a_plain_redis_url_has_no_tls_and_no_credentials(monkeypatch, tmp_path):
    store = _settings(monkeypatch, tmp_path, "redis://127.0.0.1:6379/0").endpoints()["tracker_store"]
    assert (store["url"], store["port"], store["db"]) == ("127.0.0.1", 6379, 0)
    assert "use_ssl" not in store and "username" not in store and "password" not in store


def test_tls_certificate_options_are_passed_to_the_stores(monkeypatch, tmp_path):
    url = "rediss://:pw@redis.example/1?ssl_ca_certs=/etc/ssl/clinic-ca.pem"
    store = _settings(monkeypatch, tmp_path, url).endpoints()["lock_store"]
    assert store["ssl_ca_certs"] == "/etc/ssl/clinic-ca.pem"
    assert store["password"] == "pw" and store["db"] == 1


@pytest.mark.parametrize("url, says", [
    ("http://127.0.0.1:6379", "redis://"),
    ("unix:///run/redis.sock", "unix"),
    ("redis://127.0.0.1:6379/0?socket_keepalive=yes", "socket_keepalive"),
])
def test_a_redis_url_the_stores_cannot_use_is_refused_with_what_to_do(monkeypatch, tmp_path, url, says):
    with pytest.raises(SystemExit) as stop:
        _settings(monkeypatch, tmp_path, url).endpoints()
    assert says in str(stop.value) and "REDIS_URL" in str(stop.value)


def test_an_unreachable_redis_is_reported_without_its_password(monkeypatch, tmp_path):
    settings = _settings(monkeypatch, tmp_path, "redis://:secret-pw@127.0.0.1:18419/0")
    with pytest.raises(SystemExit) as stop:
        settings.check_redis()
    message = str(stop.value)
    assert "redis://127.0.0.1:18419/0" in message and "did not answer" in message
    assert "secret-pw" not in message


def test_a_reachable_redis_passes_the_check(monkeypatch, tmp_path, redis_url):
    _settings(monkeypatch, tmp_path, redis_url).check_redis()


def test_without_redis_url_there_is_nothing_to_check(monkeypatch, tmp_path):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    Settings.from_env().check_redis()


def test_patient_data_files_are_for_the_service_user_only(tmp_path):
    # practice.db and archive.db (names, dates of birth, phones, medicines) were created 0644
    # in a 0755 directory: readable by every local user.
    import os
    import sqlite3
    import stat

    from bot.settings import keep_files_private

    var_dir = tmp_path / "var"
    var_dir.mkdir(mode=0o755)
    old = var_dir / "practice.db"
    old.write_bytes(b"")
    old.chmod(0o644)  # made by an earlier version
    before = os.umask(0o022)
    try:
        keep_files_private(var_dir)
        sqlite3.connect(var_dir / "archive.db").execute("create table t (x)")
    finally:
        os.umask(before)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(var_dir) == 0o700
    assert mode(old) == 0o600 and mode(var_dir / "archive.db") == 0o600
