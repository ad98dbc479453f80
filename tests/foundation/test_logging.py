"""One logging configuration: JSON on request, secrets never written."""

import json
import logging

import pytest

from mass_mailer.logging_config import configure_logging

pytestmark = pytest.mark.no_services

SECRETS = [
    "Authorization: Bearer ya29.a0AfH6SMBx-secret-access-token",
    "refresh_token=1//0gLongRefreshTokenValue_abcdef",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "stored gAAAAABlongFernetCiphertextValueThatLooksReal0123456789",
    '{"access_token": "plain-secret-value", "expires_in": 3599}',
]


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_are_redacted(fmt, capsys, restore_logging):
    configure_logging(fmt, "INFO")
    for line in SECRETS:
        logging.getLogger("mass_mailer.test").info("got %s", line)
    err = capsys.readouterr().err
    for needle in ("ya29.a0AfH6SMBx", "1//0gLongRefreshToken", "c2lnbmF0dXJlLXNpZ25hdHVyZQ",
                   "gAAAAABlongFernet", "plain-secret-value"):
        assert needle not in err
    assert err.count("[REDACTED]") >= len(SECRETS)


def test_json_format_writes_one_object_per_line(capsys, restore_logging):
    configure_logging("json", "INFO")
    logging.getLogger("mass_mailer.test").warning("sender %s paused", 7)
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["message"] == "sender 7 paused"
    assert record["level"] == "WARNING" and record["name"] == "mass_mailer.test"


def test_exception_tracebacks_are_redacted_too(capsys, restore_logging):
    configure_logging("text", "INFO")
    try:
        raise RuntimeError("token=supersecretvalue123 refused")
    except RuntimeError:
        logging.getLogger("mass_mailer.test").exception("failed")
    err = capsys.readouterr().err
    assert "supersecretvalue123" not in err and "RuntimeError" in err


def test_exception_tracebacks_are_redacted_in_json_too(capsys, restore_logging):
    configure_logging("json", "INFO")
    try:
        raise RuntimeError("stored gAAAAABlongFernetCiphertextValueThatLooksReal0123456789 refused")
    except RuntimeError:
        logging.getLogger("mass_mailer.test").exception("failed")
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert "RuntimeError" in record["exc_info"] and "[REDACTED]" in record["exc_info"]
    assert "gAAAAABlongFernet" not in json.dumps(record)


def test_lines_logged_by_a_sending_batch_name_its_job_and_sender(capsys, restore_logging):
    from mass_mailer.logging_config import engine_context

    configure_logging("text")
    with engine_context(12, 34):
        logging.getLogger("mass_mailer.services.sending").warning("retrying")
    logging.getLogger("mass_mailer.services.sending").warning("elsewhere")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-2].endswith("retrying [job 12, sender 34]") and lines[-1].endswith("elsewhere")
    configure_logging("json")
    with engine_context(12, 34):
        logging.getLogger("mass_mailer.services.sending").warning("retrying")
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (record["job_id"], record["sender_id"], record["message"]) == (12, 34, "retrying")
