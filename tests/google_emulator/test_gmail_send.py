"""The real google-api-python-client sending through the emulator's Gmail endpoints."""

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage

import httpx
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from mass_mailer.google_emulator import EmulatorServer

pytestmark = pytest.mark.no_services  # only the emulator, started here

CLIENT_ID = "engine-client"
SECRET = "engine-secret"
SENDER = "sender@example.com"


@pytest.fixture(scope="module")
def server():
    with EmulatorServer(port=0) as emu:
        yield emu


@pytest.fixture
def emu(server):
    server.reset(config=True)
    return server


def credentials(emu, email=SENDER, scopes=None):
    tokens = emu.issue_tokens(email, scopes=scopes, client_id=CLIENT_ID, client_secret=SECRET)
    return Credentials(
        tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_uri=emu.token_uri,
        client_id=CLIENT_ID,
        client_secret=SECRET,
    )


def gmail(emu, creds):
    return build(
        "gmail", "v1", credentials=creds, static_discovery=True, client_options={"api_endpoint": emu.gmail_endpoint}
    )


def raw_message(to, subject="Hello", sender=SENDER):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content("plain body")
    message.add_alternative("<p>html body</p>", subtype="html")
    return {"raw": base64.urlsafe_b64encode(message.as_bytes()).decode()}


def reason(error: HttpError) -> str:
    return json.loads(error.content)["error"]["errors"][0]["reason"]


def send(service, to, subject="Hello"):
    return service.users().messages().send(userId="me", body=raw_message(to, subject)).execute()


def test_send_delivers_a_decoded_message(emu):
    service = gmail(emu, credentials(emu))

    reply = send(service, "Bob Example <bob@example.com>", "Grüße aus Köln ✓")

    assert reply["labelIds"] == ["SENT"] and reply["threadId"] == reply["id"]
    [message] = emu.messages(to="bob@example.com")
    assert message["id"] == reply["id"] and message["account"] == SENDER and message["from"] == SENDER
    assert message["to"] == "bob@example.com" and message["subject"] == "Grüße aus Köln ✓"
    assert message["text"].strip() == "plain body" and message["html"].strip() == "<p>html body</p>"
    assert message["headers"]["Subject"] == "Grüße aus Köln ✓"
    assert emu.stats()["accounts"][SENDER]["sent"] == 1


def test_bad_recipient_is_a_400_invalid_argument(emu):
    service = gmail(emu, credentials(emu))
    with pytest.raises(HttpError) as caught:
        send(service, "not-an-address")
    assert caught.value.status_code == 400 and reason(caught.value) == "invalidArgument"
    assert "Invalid To header" in caught.value.reason
    assert emu.messages() == []


def test_token_without_gmail_send_scope_is_refused(emu):
    service = gmail(emu, credentials(emu, scopes=["openid", "email"]))
    with pytest.raises(HttpError) as caught:
        send(service, "bob@example.com")
    assert caught.value.status_code == 403 and reason(caught.value) == "insufficientPermissions"


def test_expired_access_token_is_refreshed_and_the_send_retried_once(emu):
    service = gmail(emu, credentials(emu))
    emu.configure(time_offset_seconds=3600)  # past the token's 3599 s lifetime

    send(service, "bob@example.com")

    stats = emu.stats()
    assert stats["refreshes"] == 1 and stats["total_sent"] == 1


def test_revoked_sender_cannot_send_or_refresh(emu):
    service = gmail(emu, credentials(emu))
    assert emu.revoke_account(SENDER) == 1
    with pytest.raises(Exception, match="invalid_grant"):
        send(service, "bob@example.com")


def test_batch_sends_each_call_and_reports_each_result(emu):
    creds = credentials(emu)
    service = gmail(emu, creds)
    results = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: results.update({rid: exc or resp}), batch_uri=emu.url + "/batch/gmail/v1"
    )
    for n in range(4):
        batch.add(service.users().messages().send(userId="me", body=raw_message(f"r{n}@example.com", f"Batch {n}")))
    batch.add(service.users().messages().send(userId="me", body=raw_message("broken")), request_id="bad")

    batch.execute()

    assert sorted(m["to"] for m in emu.messages()) == [f"r{n}@example.com" for n in range(4)]
    assert all(results[str(n + 1)]["labelIds"] == ["SENT"] for n in range(4))
    assert isinstance(results["bad"], HttpError) and reason(results["bad"]) == "invalidArgument"


def test_batch_with_expired_token_is_refreshed_and_redone(emu):
    creds = credentials(emu)
    service = gmail(emu, creds)
    emu.configure(time_offset_seconds=3600)
    batch = BatchHttpRequest(batch_uri=emu.url + "/batch")
    for n in range(3):
        batch.add(service.users().messages().send(userId="me", body=raw_message(f"r{n}@example.com")))

    batch.execute()

    assert len(emu.messages()) == 3 and emu.stats()["refreshes"] >= 1


def test_batch_of_more_than_100_calls_is_refused(emu):
    service = gmail(emu, credentials(emu))
    batch = BatchHttpRequest(batch_uri=emu.url + "/batch/gmail/v1")
    for n in range(101):
        batch.add(service.users().messages().send(userId="me", body=raw_message(f"r{n}@example.com")))
    with pytest.raises(HttpError) as caught:
        batch.execute()
    assert caught.value.status_code == 400 and emu.messages() == []


def test_rate_limit_answers_429_and_counts_violations(emu):
    emu.configure(rate_per_minute=3)
    service = gmail(emu, credentials(emu))
    for n in range(3):
        send(service, f"r{n}@example.com")
    for _ in range(2):
        with pytest.raises(HttpError) as caught:
            send(service, "late@example.com")
        assert caught.value.status_code == 429 and reason(caught.value) == "rateLimitExceeded"
        assert json.loads(caught.value.content)["error"]["status"] == "RESOURCE_EXHAUSTED"

    account = emu.stats()["accounts"][SENDER]
    assert (account["sent"], account["rate_violations"], account["rate_limited"]) == (3, 2, 2)
    emu.configure(time_offset_seconds=61)
    send(service, "later@example.com")


def test_daily_limit_names_the_time_the_window_reopens(emu):
    emu.configure(daily_limit=2, access_token_ttl=200_000)
    service = gmail(emu, credentials(emu))
    first_sent = time.time()
    send(service, "a@example.com")
    send(service, "b@example.com")

    with pytest.raises(HttpError) as caught:
        send(service, "c@example.com")

    message = json.loads(caught.value.content)["error"]["message"]
    assert caught.value.status_code == 429 and reason(caught.value) == "rateLimitExceeded"
    assert message.startswith("User-rate limit exceeded.  Retry after ") and message.endswith("Z (Mail sending)")
    retry_at = datetime.strptime(message.split("Retry after ")[1][:24], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs(retry_at.replace(tzinfo=UTC).timestamp() - (first_sent + 86_400)) < 5
    assert emu.stats()["daily_violations"] == 1
    emu.configure(time_offset_seconds=86_401)
    send(service, "c@example.com")


def test_unenforced_limits_deliver_but_count_violations(emu):
    emu.configure(rate_per_minute=1, enforce_limits=False)
    service = gmail(emu, credentials(emu))
    send(service, "a@example.com")
    send(service, "b@example.com")
    stats = emu.stats()
    assert (stats["total_sent"], stats["rate_violations"], stats["rate_limited"]) == (2, 1, 0)


def test_fault_injection_is_roughly_honoured_and_reproducible(emu):
    tokens = emu.issue_tokens(SENDER)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    body = raw_message("bob@example.com")

    def run():
        emu.configure(fault_503_rate=0.3, fault_429_rate=0.2, seed=7)
        with httpx.Client(base_url=emu.url, headers=headers) as client:
            return [client.post("/gmail/v1/users/me/messages/send", json=body).status_code for _ in range(300)]

    statuses = run()
    assert 60 <= statuses.count(503) <= 120 and 35 <= statuses.count(429) <= 85
    stats = emu.stats()["accounts"][SENDER]
    assert stats["faults"] == statuses.count(503) + statuses.count(429)
    assert stats["sent"] == statuses.count(200) == len(emu.messages())
    assert run() == statuses


def test_latency_does_not_serialise_concurrent_sends(emu):
    emu.configure(latency_ms=400)
    creds = credentials(emu)
    requests = [
        gmail(emu, creds).users().messages().send(userId="me", body=raw_message(f"r{n}@example.com")) for n in range(5)
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(5) as pool:
        list(pool.map(lambda request: request.execute(), requests))
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 1.6 and len(emu.messages()) == 5  # one after another would take 2 s


def test_user_id_may_be_the_account_address_but_not_another(emu):
    service = gmail(emu, credentials(emu))
    service.users().messages().send(userId=SENDER, body=raw_message("bob@example.com")).execute()
    with pytest.raises(HttpError) as caught:
        service.users().messages().send(userId="other@example.com", body=raw_message("bob@example.com")).execute()
    assert caught.value.status_code == 403


def test_media_upload_form_is_accepted(emu):
    tokens = emu.issue_tokens(SENDER)
    raw = base64.urlsafe_b64decode(raw_message("media@example.com")["raw"])
    reply = httpx.post(
        emu.url + "/upload/gmail/v1/users/me/messages/send?uploadType=media",
        content=raw,
        headers={"Authorization": f"Bearer {tokens['access_token']}", "Content-Type": "message/rfc822"},
    )
    assert reply.status_code == 200 and emu.messages()[0]["to"] == "media@example.com"


def test_missing_or_unknown_token_is_401_in_googles_format(emu):
    url = emu.url + "/gmail/v1/users/me/messages/send"
    missing = httpx.post(url, json=raw_message("bob@example.com"))
    unknown = httpx.post(url, json=raw_message("bob@example.com"), headers={"Authorization": "Bearer ya29.nope"})
    assert missing.status_code == unknown.status_code == 401
    error = unknown.json()["error"]
    assert error["status"] == "UNAUTHENTICATED" and error["errors"][0]["reason"] == "authError"


def test_hand_written_crlf_batch_and_multipart_upload(emu):
    token = emu.issue_tokens(SENDER)["access_token"]
    parts = []
    for n in range(2):
        body = json.dumps(raw_message(f"crlf{n}@example.com"))
        parts.append(
            f"--XYZ\r\nContent-Type: application/http\r\nContent-ID: <item{n}>\r\n\r\n"
            f"POST /gmail/v1/users/me/messages/send HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}\r\n"
        )
    reply = httpx.post(
        emu.url + "/batch/gmail/v1",
        content="".join(parts) + "--XYZ--\r\n",
        headers={"Content-Type": "multipart/mixed; boundary=XYZ", "Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("multipart/mixed; boundary=")
    assert reply.text.count("HTTP/1.1 200 OK") == 2
    assert "Content-ID: <response-item0>" in reply.text and "Content-ID: <response-item1>" in reply.text

    rfc822 = base64.urlsafe_b64decode(raw_message("multi@example.com")["raw"])
    upload = (
        b"--U\r\nContent-Type: application/json\r\n\r\n{}\r\n--U\r\nContent-Type: message/rfc822\r\n\r\n"
        + rfc822
        + b"\r\n--U--\r\n"
    )
    reply = httpx.post(
        emu.url + "/upload/gmail/v1/users/me/messages/send?uploadType=multipart",
        content=upload,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "multipart/related; boundary=U"},
    )
    assert reply.status_code == 200
    assert sorted(m["to"] for m in emu.messages()) == ["crlf0@example.com", "crlf1@example.com", "multi@example.com"]
