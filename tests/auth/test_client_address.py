"""Sign-in rate limits count per real client: behind TRUSTED_PROXIES by X-Forwarded-For, IPv6 by its /64."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from mass_mailer.api import create_app
from mass_mailer.settings import Settings, reset_settings

APP_URL = "http://127.0.0.1:8000"


@pytest.fixture
def limit(monkeypatch):
    def apply(**values: str) -> None:
        monkeypatch.setenv("AUTH_RATE_LIMIT", "3/minute")
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_settings()
    return apply


def _from(peer: str) -> TestClient:
    return TestClient(create_app(), base_url=APP_URL, client=(peer, 40000))


def _starts(client: TestClient, forwarded: str | None = None, times: int = 1) -> list[int]:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return [client.post("/api/auth/google", headers=headers).status_code for _ in range(times)]


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(limit):
    limit(TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.10")
    proxy = _from("10.1.2.3")
    assert _starts(proxy, "203.0.113.7", 3) == [200, 200, 200]
    limited = proxy.post("/api/auth/google", headers={"X-Forwarded-For": "203.0.113.7"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert _starts(proxy, "203.0.113.8", 3) == [200, 200, 200]  # another person behind the same proxy
    # Two proxies in a row: the right-most address that is not a trusted proxy is the client.
    assert _starts(proxy, "198.51.100.1, 203.0.113.9, 192.0.2.10", 3) == [200, 200, 200]
    assert _starts(proxy, "203.0.113.9", 1) == [429]


def test_a_client_cannot_escape_its_budget_by_writing_x_forwarded_for(limit):
    limit(TRUSTED_PROXIES="10.0.0.0/8")
    proxy = _from("10.1.2.3")
    # The client sends its own X-Forwarded-For; the proxy appends the real address on the right.
    assert _starts(proxy, "1.1.1.1, 203.0.113.7", 1) == [200]
    assert _starts(proxy, "2.2.2.2, 203.0.113.7", 1) == [200]
    assert _starts(proxy, "3.3.3.3, 203.0.113.7", 1) == [200]
    assert _starts(proxy, "4.4.4.4, 203.0.113.7", 1) == [429]


def test_x_forwarded_for_from_a_peer_that_is_not_trusted_is_ignored(limit):
    limit(TRUSTED_PROXIES="10.0.0.0/8")
    direct = _from("198.51.100.20")
    assert [direct.post("/api/auth/google", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(4)] == [200, 200, 200, 429]
    limit(TRUSTED_PROXIES="")  # the default: nobody's X-Forwarded-For counts
    assert _starts(_from("10.1.2.3"), "203.0.113.50", 3) == [200, 200, 200]
    assert _starts(_from("10.1.2.3"), "203.0.113.51", 1) == [429]


def test_ipv6_clients_are_counted_by_their_64(limit):
    limit(TRUSTED_PROXIES="2001:db8:ffff::/48")
    proxy = _from("2001:db8:ffff::1")
    assert _starts(proxy, "2001:db8:1:2::1", 1) + _starts(proxy, "2001:db8:1:2:aaaa::9", 1) + \
        _starts(proxy, "[2001:db8:1:2::77]:5555", 1) == [200, 200, 200]
    assert _starts(proxy, "2001:db8:1:2:ffff:ffff:ffff:ffff", 1) == [429]  # the same /64
    assert _starts(proxy, "2001:db8:1:3::1", 1) == [200]  # the next /64 is someone else
    direct = [_from(f"2001:db8:9:9::{i}") for i in range(1, 5)]
    assert [_starts(client)[0] for client in direct] == [200, 200, 200, 429]


def test_trusted_proxies_must_be_addresses_or_networks():
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/8, proxy.example")
    assert len(Settings(trusted_proxies="10.0.0.0/8, ::1, 192.0.2.1").trusted_proxy_networks) == 3
