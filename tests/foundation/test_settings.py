"""Settings: defaults, refusal to serve without secrets, demo-mode safety."""

import pytest
from pydantic import ValidationError

from mass_mailer.settings import Settings, SettingsError

pytestmark = pytest.mark.no_services

GOOD = {
    "database_url": "postgresql://u@db/x", "redis_url": "redis://r:6379/0",
    "google_client_id": "cid", "google_client_secret": "csecret",
    "secret_key": "s" * 40, "token_encryption_keys": "bOzgOs-xkA7q9PV8D4Sl0WHgBTO6bLs_Jb9kS6mRcQw=",
}


@pytest.fixture(autouse=True)
def _empty_env(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "GOOGLE_CLIENT_ID",
                 "GOOGLE_CLIENT_SECRET", "DEMO_MODE", "HOST", "GOOGLE_TOKEN_URI", "GOOGLE_AUTH_URI",
                 "GOOGLE_USERINFO_URI", "GOOGLE_REVOKE_URI", "GMAIL_API_ENDPOINT", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_contract_defaults():
    s = Settings()
    assert s.sender_rate_per_minute == 60
    assert s.default_daily_quota == 2000
    assert s.port == 8000 and s.host == "127.0.0.1"
    assert s.google_token_uri == "https://oauth2.googleapis.com/token"
    assert s.gmail_api_endpoint == "https://gmail.googleapis.com/"
    assert s.oauth_redirect_uri == "http://127.0.0.1:8000/api/auth/callback"


def test_serving_outside_demo_mode_requires_every_secret():
    Settings(**GOOD).require_serving()
    for missing in ("secret_key", "token_encryption_keys", "google_client_id"):
        with pytest.raises(SettingsError, match=missing.upper()):
            Settings(**{k: v for k, v in GOOD.items() if k != missing}).require_serving()


def test_short_secret_and_bad_fernet_key_are_refused():
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings(**GOOD | {"secret_key": "short"}).require_serving()
    with pytest.raises(SettingsError, match="Fernet"):
        Settings(**GOOD | {"token_encryption_keys": "not-a-key"}).require_serving()


def test_demo_mode_generates_secrets_once_and_points_at_the_emulator(tmp_path):
    first = Settings(demo_mode=True, var_dir=tmp_path / "var", database_url="postgresql://x", redis_url="redis://y")
    second = Settings(demo_mode=True, var_dir=tmp_path / "var")
    assert first.secret_key.get_secret_value() == second.secret_key.get_secret_value()
    assert first.token_encryption_keys.get_secret_value() == second.token_encryption_keys.get_secret_value()
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
    assert first.google_token_uri.startswith("http://127.0.0.1:")
    first.require_serving()


def test_demo_mode_refuses_a_public_host(tmp_path):
    with pytest.raises(ValidationError, match="loopback"):
        Settings(demo_mode=True, host="0.0.0.0", var_dir=tmp_path)


def test_plain_http_google_urls_only_on_loopback():
    Settings(google_token_uri="http://127.0.0.1:9/token")
    Settings(gmail_api_endpoint="http://localhost:9/")
    with pytest.raises(ValidationError, match="loopback"):
        Settings(google_token_uri="http://evil.example.com/token")


def test_database_url_is_given_to_sqlalchemy_with_the_psycopg2_driver():
    assert Settings(database_url="postgresql://u@h/d").sqlalchemy_url == "postgresql+psycopg2://u@h/d"
    assert Settings(database_url="postgres://u@h/d").sqlalchemy_url == "postgresql+psycopg2://u@h/d"


def test_secrets_do_not_show_in_repr():
    text = repr(Settings(**GOOD))
    assert "csecret" not in text and "s" * 40 not in text


def test_demo_mode_refuses_a_public_url_that_is_not_loopback(tmp_path):
    for public in ("https://mail.example.com", "http://10.0.0.5:8000", "http://0.0.0.0:8000"):
        with pytest.raises(ValidationError, match="PUBLIC_URL must be a loopback address"):
            Settings(demo_mode=True, public_url=public, var_dir=tmp_path)
    for public in ("http://localhost:8000", "http://127.0.0.1:9000/", "http://[::1]:8000"):
        assert Settings(demo_mode=True, public_url=public, var_dir=tmp_path).app_url == public.rstrip("/")
    assert Settings(public_url="https://mail.example.com").app_url == "https://mail.example.com"


def test_commands_started_together_in_demo_mode_share_one_set_of_secrets(tmp_path):
    import subprocess
    import sys

    from mass_mailer.supervisor import ROOT

    code = ("import sys; from pathlib import Path; from mass_mailer.settings import demo_secrets; "
            "v = demo_secrets(Path(sys.argv[1])); print(v['SECRET_KEY'], v['TOKEN_ENCRYPTION_KEYS'])")
    for round_ in range(3):
        var = tmp_path / f"var{round_}"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(var)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
                 for _ in range(8)]
        outputs = {proc.communicate(timeout=60)[0].strip() for proc in procs}
        assert len(outputs) == 1 and all(len(part) > 30 for part in outputs.pop().split()), outputs
        assert sorted(p.name for p in var.iterdir()) == ["secret_key", "token_encryption_keys"]
