"""CSV files as spreadsheets save them: Excel's "Unicode Text" export is UTF-16 with a byte-order mark.

A NUL byte, which PostgreSQL cannot store, is bad input, never a crash.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_files_with_a_byte_order_mark_are_read(signed_in, encoding):
    alice = signed_in("alice@example.com")
    assert alice.connect_sender("one@example.com").status_code == 302
    text = "Email\tFirst Name\nann@example.com\tÄnn\nbob@example.com\tBøb\n"
    data = ("\ufeff" + text).encode(encoding) if encoding != "utf-16" else text.encode(encoding)
    answer = alice.post("/api/email-jobs", data={"subject": "Hi {{ first_name }}", "html_content": "<p>Hi</p>"},
                        files={"recipients": ("list.txt", data, "text/plain")})
    assert answer.status_code == 201, answer.text
    assert answer.json()["total_recipients"] == 2 and answer.json()["rejected"] == []


def test_a_nul_byte_in_a_csv_cell_is_bad_input_not_a_crash(signed_in):
    alice = signed_in("alice@example.com")
    assert alice.connect_sender("one@example.com").status_code == 302
    answer = alice.post("/api/email-jobs", data={"subject": "Hi", "html_content": "<p>Hi</p>"},
                        files={"recipients": ("r.csv", b"email,name\nann@example.com,A\x00nn\n", "text/csv")})
    assert answer.status_code in (201, 400), answer.text  # the byte dropped, or the file refused with a reason
    assert isinstance(answer.json()["detail"] if answer.status_code == 400 else answer.json()["id"], (str, int))
