"""Every route with an id in its path answers an id beyond PostgreSQL's integer range with a JSON 404 or 422."""

from __future__ import annotations

import re

import pytest

from mass_mailer.api import create_app

HUGE = ["2147483648", "9223372036854775807", "9223372036854775808", "99999999999999999999", "-9223372036854775809",
        "1" * 400]
BODIES = {"patch": {"daily_quota": 5, "role": "user", "is_active": True, "send_at": "2030-01-01T00:00:00Z"},
          "post": {}}


def _id_routes() -> list[tuple[str, str]]:
    paths = create_app().openapi()["paths"]
    return [(method, path) for path, operations in paths.items() if re.search(r"\{\w+_id\}", path)
            for method in operations]


def test_there_are_id_routes_to_check():
    routes = _id_routes()
    assert {p for _, p in routes} >= {"/api/senders/{sender_id}", "/api/users/{user_id}", "/api/email-jobs/{job_id}"}


@pytest.mark.parametrize("method, path", _id_routes())
def test_an_oversized_id_is_a_json_not_found_or_invalid(signed_in, method, path):
    admin = signed_in("admin@example.com")  # the first user: an admin, so /api/users is reachable
    assert admin.connect_sender("s@example.com").status_code == 302
    for huge in HUGE:
        url = re.sub(r"\{\w+_id\}", huge, path)
        kwargs = {"json": BODIES[method]} if method in BODIES else {}
        answer = getattr(admin, method)(url, **kwargs) if method != "get" else admin.get(url)
        assert answer.status_code in (404, 422), (method, url, answer.status_code, answer.text[:200])
        assert answer.headers["content-type"].startswith("application/json")
        assert "detail" in answer.json()
