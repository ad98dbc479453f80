"""The real google-auth-oauthlib / google-auth clients against the emulator's OAuth endpoints."""

from urllib.parse import parse_qs, urlsplit

import google.auth.transport.requests
import jwt
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

from mass_mailer.google_emulator import EmulatorServer

pytestmark = pytest.mark.no_services  # only the emulator, started here

CLIENT_ID = "test-client.apps.googleusercontent.com"
SECRET = "test-secret-of-at-least-thirty-two-bytes"
CALLBACK = "http://127.0.0.1:8000/api/auth/callback"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
SCOPES = [
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    GMAIL_SEND,
]


@pytest.fixture(scope="module")
def server():
    with EmulatorServer(port=0) as emu:
        yield emu


@pytest.fixture
def emu(server, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    server.reset(config=True)
    return server


def make_flow(emu, client_secret=SECRET, scopes=SCOPES, **kwargs):
    config = {
        "web": {
            "client_id": CLIENT_ID,
            "client_secret": client_secret,
            "auth_uri": emu.auth_uri,
            "token_uri": emu.token_uri,
            "redirect_uris": [CALLBACK],
        }
    }
    return Flow.from_client_config(config, scopes=scopes, redirect_uri=CALLBACK, **kwargs)


def authorize(emu, flow, **params):
    """Follow the authorization URL like a browser; return the callback URL Google redirects to."""
    url, _ = flow.authorization_url(access_type="offline", prompt="consent", include_granted_scopes="true", **params)
    response = requests.get(url, allow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return location


def callback_params(location):
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def userinfo(emu, access_token):
    return requests.get(emu.userinfo_uri, headers={"Authorization": f"Bearer {access_token}"})


def test_web_flow_with_pkce_and_basic_auth_signs_in_the_hinted_account(emu):
    flow = make_flow(emu)
    location = authorize(emu, flow, login_hint="jane.doe@example.com")
    params = callback_params(location)
    assert set(params["scope"].split()) == set(SCOPES)

    token = flow.fetch_token(authorization_response=location)

    assert token["token_type"] == "Bearer" and token["expires_in"] == 3599
    creds = flow.credentials
    assert creds.refresh_token and creds.token.startswith("ya29.")
    info = userinfo(emu, creds.token).json()
    assert info["email"] == "jane.doe@example.com" and info["email_verified"] is True
    assert (info["name"], info["given_name"], info["family_name"]) == ("Jane Doe", "Jane", "Doe")
    avatar = requests.get(info["picture"])
    assert avatar.status_code == 200 and avatar.headers["content-type"] == "image/svg+xml"
    claims = jwt.decode(token["id_token"], SECRET, algorithms=["HS256"], audience=CLIENT_ID)
    assert claims["sub"] == info["sub"] and claims["email"] == "jane.doe@example.com"


def test_without_login_hint_the_demo_account_signs_in(emu):
    flow = make_flow(emu)
    flow.fetch_token(authorization_response=authorize(emu, flow))
    assert userinfo(emu, flow.credentials.token).json()["email"] == "demo@example.com"


def test_missing_and_wrong_code_verifier_are_refused(emu):
    code = callback_params(authorize(emu, make_flow(emu)))["code"]

    without_verifier = make_flow(emu, autogenerate_code_verifier=False)
    with pytest.raises(InvalidGrantError, match="Missing code verifier"):
        without_verifier.fetch_token(code=code)
    wrong_verifier = make_flow(emu, code_verifier="x" * 64)
    with pytest.raises(InvalidGrantError, match="Invalid code verifier"):
        wrong_verifier.fetch_token(code=code)


def test_replayed_code_is_refused_and_revokes_what_it_produced(emu):
    flow = make_flow(emu)
    location = authorize(emu, flow)
    access_token = flow.fetch_token(authorization_response=location)["access_token"]
    assert userinfo(emu, access_token).status_code == 200

    with pytest.raises(InvalidGrantError):
        flow.fetch_token(authorization_response=location)
    assert userinfo(emu, access_token).status_code == 401


def test_first_secret_binds_the_client(emu):
    flow = make_flow(emu)
    flow.fetch_token(authorization_response=authorize(emu, flow))

    impostor = make_flow(emu, client_secret="another-secret")
    code = callback_params(authorize(emu, impostor))["code"]
    reply = requests.post(
        emu.token_uri,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": "v" * 43},
        auth=(CLIENT_ID, "another-secret"),
    )
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_client"


def test_redirect_uri_must_match_the_authorization_request(emu):
    flow = make_flow(emu)
    code = callback_params(authorize(emu, flow))["code"]
    reply = requests.post(
        emu.token_uri,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:9999/elsewhere",
            "code_verifier": flow.code_verifier,
        },
        auth=(CLIENT_ID, SECRET),
    )
    assert reply.status_code == 400 and reply.json()["error"] == "redirect_uri_mismatch"


def test_refresh_token_only_on_first_offline_consent_or_prompt_consent(emu):
    def token_after(**params):
        flow = make_flow(emu)
        url, _ = flow.authorization_url(**params)
        return flow.fetch_token(authorization_response=requests.get(url, allow_redirects=False).headers["location"])

    assert "refresh_token" not in token_after(access_type="online")
    assert "refresh_token" in token_after(access_type="offline")
    assert "refresh_token" not in token_after(access_type="offline")
    assert "refresh_token" in token_after(access_type="offline", prompt="consent")


def test_credentials_refresh_and_revocation(emu):
    flow = make_flow(emu)
    flow.fetch_token(authorization_response=authorize(emu, flow, login_hint="ann@example.com"))
    refresh_token = flow.credentials.refresh_token
    creds = Credentials(
        None,
        refresh_token=refresh_token,
        token_uri=emu.token_uri,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        scopes=SCOPES,
    )

    creds.refresh(google.auth.transport.requests.Request())

    assert creds.token and creds.token != flow.credentials.token and creds.valid
    assert userinfo(emu, creds.token).json()["email"] == "ann@example.com"
    assert emu.stats()["accounts"]["ann@example.com"]["refreshes"] == 1

    assert requests.post(emu.revoke_uri, data={"token": refresh_token}).status_code == 200
    assert userinfo(emu, creds.token).status_code == 401
    with pytest.raises(RefreshError, match="invalid_grant"):
        creds.refresh(google.auth.transport.requests.Request())
    assert requests.post(emu.revoke_uri, data={"token": refresh_token}).json()["error"] == "invalid_token"


def test_unticked_gmail_send_is_missing_from_the_granted_scopes(emu, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    emu.configure(drop_scopes=[GMAIL_SEND])
    flow = make_flow(emu)
    location = authorize(emu, flow, login_hint="careful@example.com")
    assert GMAIL_SEND not in callback_params(location)["scope"].split()

    token = flow.fetch_token(authorization_response=location)

    assert GMAIL_SEND not in token["scope"]
    assert GMAIL_SEND not in flow.credentials.granted_scopes


def test_scope_short_names_come_back_as_full_urls(emu):
    flow = make_flow(emu, scopes=["openid", "email", "profile"])
    granted = callback_params(authorize(emu, flow))["scope"].split()
    assert set(granted) == set(SCOPES) - {GMAIL_SEND}


def test_userinfo_refuses_bad_tokens_and_follows_scopes(emu):
    assert userinfo(emu, "ya29.unknown").status_code == 401
    tokens = emu.issue_tokens("solo@example.com", scopes=["openid", "email"])
    info = userinfo(emu, tokens["access_token"]).json()
    assert info["email"] == "solo@example.com" and "name" not in info
    legacy = requests.get(
        emu.url + "/oauth2/v2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert legacy["verified_email"] is True and legacy["id"] == info["sub"]


def test_strict_clients_check_client_and_redirect_uri(emu):
    emu.configure(clients={CLIENT_ID: {"secret": SECRET, "redirect_uris": [CALLBACK]}})
    url, _ = make_flow(emu).authorization_url()

    unknown = requests.get(url.replace(CLIENT_ID, "unknown-client"), allow_redirects=False)
    assert unknown.status_code == 401 and "invalid_client" in unknown.text
    wrong_redirect = requests.get(url.replace("8000", "8001"), allow_redirects=False)
    assert wrong_redirect.status_code == 400 and "redirect_uri_mismatch" in wrong_redirect.text

    flow = make_flow(emu, client_secret="wrong")
    location = authorize(emu, flow)
    with pytest.raises(Exception, match="invalid_client"):
        flow.fetch_token(authorization_response=location)


def test_authorization_requires_pkce_s256(emu):
    url, _ = make_flow(emu, autogenerate_code_verifier=False).authorization_url()
    page = requests.get(url, allow_redirects=False)
    assert page.status_code == 400 and "code_challenge" in page.text
