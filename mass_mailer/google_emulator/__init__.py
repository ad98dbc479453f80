"""A local stand-in for Google's OAuth 2.0 and Gmail endpoints, spoken on the real wire protocol.

Google endpoints (one base URL):
    GET  /o/oauth2/auth, /o/oauth2/v2/auth      auto-consent; `login_hint` picks the account
    POST /token                                  authorization_code (PKCE S256) and refresh_token
    GET  /v1/userinfo, /oauth2/v3/userinfo, /oauth2/v2/userinfo
    POST /revoke                                 `token=` in the form or the query
    POST /gmail/v1/users/{userId}/messages/send  also /upload/... with uploadType=media|multipart
    POST /batch/gmail/v1, /batch                 multipart/mixed, at most 100 calls

Emulator endpoints:
    GET  /_emulator/health, /_emulator/stats, /_emulator/messages?to=&account=&limit=
    GET|POST /_emulator/config    settings of EmulatorConfig, merged at runtime
    POST /_emulator/reset         {"config": true} also restores the starting settings
    POST /_emulator/revoke        {"email"}: revoke all of that account's tokens
    POST /_emulator/tokens        {"email", "scopes"?, "client_id"?, "client_secret"?}: mint tokens
    GET  /_emulator/avatar/{sub}.svg
"""

from mass_mailer.google_emulator.app import EmulatorApp, create_app
from mass_mailer.google_emulator.config import ConfigError, EmulatorConfig
from mass_mailer.google_emulator.server import EmulatorServer, main

__all__ = ["ConfigError", "EmulatorApp", "EmulatorConfig", "EmulatorServer", "create_app", "main"]
