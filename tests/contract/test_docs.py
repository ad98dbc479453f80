"""The OpenAPI page works offline: it loads no script or style from another host."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from mass_mailer.api import create_app


@pytest.mark.no_services
def test_api_docs_load_only_local_assets():
    client = TestClient(create_app())
    page = client.get("/api/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    assert "cdn" not in page.text.lower()
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    script = next(a for a in assets if a.endswith(".js"))
    assert "SwaggerUIBundle" in client.get(script).text
    assert client.get("/api/openapi.json").json()["info"]["title"] == "mass_mailer"


@pytest.mark.no_services
def test_openapi_lists_every_endpoint_of_the_contract_and_both_job_bodies():
    spec = TestClient(create_app()).get("/api/openapi.json").json()
    paths = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    for expected in [("/api/auth/google", "post"), ("/api/auth/callback", "get"), ("/api/auth/me", "get"),
                     ("/api/auth/me", "patch"), ("/api/auth/logout", "post"), ("/api/senders", "get"),
                     ("/api/senders", "post"), ("/api/senders/stats", "get"), ("/api/senders/{sender_id}", "get"),
                     ("/api/senders/{sender_id}", "patch"), ("/api/senders/{sender_id}", "delete"),
                     ("/api/email-jobs", "post"), ("/api/email-jobs", "get"), ("/api/email-jobs/{job_id}", "get"),
                     ("/api/email-jobs/{job_id}", "delete"), ("/api/email-jobs/{job_id}/status", "get"),
                     ("/api/email-jobs/{job_id}/recipients", "get"), ("/api/users", "get"),
                     ("/api/users/{user_id}", "patch"), ("/api/health", "get"), ("/api/ready", "get")]:
        assert expected in paths, expected
    body = spec["paths"]["/api/email-jobs"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert body["multipart/form-data"]["schema"]["properties"]["recipients"]["format"] == "binary"
