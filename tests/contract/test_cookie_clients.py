"""An API client that keeps cookies like a browser (and sends no Origin) can do everything the contract lists."""

from __future__ import annotations


def test_cookie_client_without_origin_headers_can_change_things(signed_in):
    alice = signed_in("alice@example.com")
    client = alice.client  # cookies only: no Origin, Referer or X-Requested-With
    assert client.patch("/api/auth/me", json={"name": "Alice A."}).json()["name"] == "Alice A."
    connect = client.post("/api/senders", json={"login_hint": "one@example.com"})
    assert connect.status_code == 200, connect.text
    assert alice.callback(alice.consent(connect.json()["url"])).status_code == 302
    (sender,) = client.get("/api/senders").json()
    assert client.patch(f"/api/senders/{sender['id']}", json={"daily_quota": 7}).json()["daily_quota"] == 7
    job = client.post("/api/email-jobs", json={"subject": "Hi", "html_content": "<p>Hi</p>",
                                               "recipients": [{"email": "a@example.com"}]})
    assert job.status_code == 201, job.text
    assert client.delete(f"/api/email-jobs/{job.json()['id']}").status_code in (200, 409)
    assert client.delete(f"/api/senders/{sender['id']}").status_code == 204
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_requests_a_browser_marks_as_cross_site_are_still_refused(signed_in):
    client = signed_in("alice@example.com").client
    for headers in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"},
                    {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "cross-site", "Origin": "http://127.0.0.1:8000"}):
        answer = client.patch("/api/auth/me", json={"name": "Mallory"}, headers=headers)
        assert answer.status_code == 403, headers
        assert isinstance(answer.json()["detail"], str)
    assert client.post("/api/auth/logout", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    # A script on another origin (even on this host) neither reads nor changes anything with the cookie.
    assert client.get("/api/auth/me", headers={"Origin": "http://127.0.0.1:9999"}).status_code == 403
    assert client.patch("/api/auth/me", json={"name": "Mallory"},
                        headers={"Origin": "http://127.0.0.1:9999", "X-Requested-With": "fetch"}).status_code == 403
    assert client.get("/api/auth/me", headers={"Origin": "http://127.0.0.1:8000"}).status_code == 200
    assert client.get("/api/auth/me").json()["name"] != "Mallory"
