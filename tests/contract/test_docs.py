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
