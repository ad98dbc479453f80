"""Health and readiness endpoints."""


from fastapi.testclient import TestClient

from mass_mailer.api import create_app
from mass_mailer.embedded import RedisServer


def test_health_and_ready_answer_ok():
    client = TestClient(create_app())
    assert client.get("/api/health").json() == {"status": "ok"}
    ready = client.get("/api/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok", "workers": 0, "scheduler": False}


def test_ready_turns_503_when_redis_stops(tmp_path, monkeypatch):
    from mass_mailer.redis_client import reset_redis
    from mass_mailer.settings import reset_settings

    server = RedisServer(tmp_path / "redis").start()
    monkeypatch.setenv("REDIS_URL", server.url)
    reset_settings()
    reset_redis()
    client = TestClient(create_app())
    assert client.get("/api/ready").status_code == 200
    server.stop()
    reset_redis()
    ready = client.get("/api/ready")
    assert ready.status_code == 503
    assert ready.json()["redis"] == "unavailable" and ready.json()["database"] == "ok"
