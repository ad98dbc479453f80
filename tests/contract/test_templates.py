"""A template the sandbox refuses is refused when the job is created, with a reason the user can act on."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("field,template", [
    ("subject", '{{ "".__class__.__mro__ }}'),
    ("html_content", "<p>{{ email.__class__.__init__.__globals__ }}</p>"),
])
def test_a_template_the_sandbox_refuses_is_a_422_at_creation(signed_in, field, template):
    alice = signed_in("alice@example.com")
    assert alice.connect_sender("one@example.com").status_code == 302
    body = {"subject": "Hello", "html_content": "<p>Hi</p>", "recipients": [{"email": "a@example.com"}]}
    answer = alice.post("/api/email-jobs", json={**body, field: template})
    assert answer.status_code == 422, answer.text
    assert "template" in answer.json()["detail"].lower()
    assert alice.get("/api/email-jobs").json()["total"] == 0
