"""Templates cannot run for long, grow huge or hold a process: refused at preview, at creation, and per message."""

from __future__ import annotations

import time

import pytest

from mass_mailer.errors import Unprocessable
from mass_mailer.services.template_limits import MAX_RENDERED_CHARS, MAX_TEMPLATE_CHARS, RENDER_SECONDS
from mass_mailer.services.templating import render_preview

from .conftest import recipient_rows, wait_job_done

ROW = {"email": "ann@example.com", "first_name": "Ann"}

HEAVY = {
    "nested loops": "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
    "nested loops, no output": "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    "a repeated string": "{{ 'x' * 1000000000 }}",
    "a list repeated": "{{ ([1] * 1000000000)|length }}",
    "a huge power": "{{ 2 ** 99999999 }}",
    "a padding filter": "{{ 'x'|center(1000000000) }}",
    "a printf width": "{{ '%0999999999d'|format(1) }}",
    "a % width": "{{ '%999999999s' % 'x' }}",
    "a str.format width": "{{ '{:>999999999}'.format(1) }}",
    "a str method width": "{{ 'x'.ljust(999999999) }}",
    "a doubling namespace": "{% set ns = namespace(s='xx') %}{% for i in range(40) %}"
                            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "a join amplifier": "{{ range(100000)|join('x' * 1000) }}",
    "a replace amplifier": "{{ ('x' * 1000)|replace('x', 'y' * 1000)|replace('y', 'z' * 1000) }}",
    "a str.replace amplifier": "{{ ('x' * 1000).replace('x', 'y' * 1000).replace('y', 'z' * 1000) }}",
    "too much output": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    "a macro": "{% macro m() %}x{% endmacro %}{{ m() }}",
    "a capturing set block": "{% set x %}{% for i in range(1000) %}y{% endfor %}{% endset %}{{ x }}",
    "a filter block": "{% filter upper %}x{% endfilter %}",
}


@pytest.mark.no_services
@pytest.mark.parametrize("template", HEAVY.values(), ids=HEAVY.keys())
def test_heavy_templates_are_refused_quickly(template):
    started = time.monotonic()
    with pytest.raises(Unprocessable) as refused:
        render_preview("Hello", template, ROW)
    assert time.monotonic() - started < RENDER_SECONDS + 0.5
    assert refused.value.status == 422 and refused.value.message


@pytest.mark.no_services
def test_an_oversized_template_is_refused_before_compiling():
    with pytest.raises(Unprocessable, match="longer than"):
        render_preview("Hello", "x" * (MAX_TEMPLATE_CHARS + 1), ROW)


@pytest.mark.no_services
def test_ordinary_templates_still_render():
    html = ("<p>Hi {{ first_name | default('there') | title }}</p>"
            "{% for item in ['a', 'b', 'c'] %}<li>{{ loop.index }}: {{ item | upper }}</li>{% endfor %}"
            "{% set ns = namespace(total=0) %}{% for n in range(10) %}{% set ns.total = ns.total + n %}{% endfor %}"
            "<p>{{ ns.total }} {{ '%5.2f' | format(3.14159) }} {{ 'a-{}-b'.format(email) }} {{ 2 ** 10 }}</p>"
            "<p>{{ 'ab' * 3 }} {{ email | replace('@', ' at ') }} {{ range(5) | join(',') }}</p>")
    subject, rendered = render_preview("Hello {{ first_name }}", html, ROW)
    assert subject == "Hello Ann"
    assert "<p>Hi Ann</p>" in rendered and "<li>3: C</li>" in rendered
    assert "45  3.14 a-ann@example.com-b 1024" in rendered and "ababab ann at example.com 0,1,2,3,4" in rendered


@pytest.mark.no_services
def test_a_long_but_legitimate_message_renders():
    rows = "{% for i in range(2000) %}<tr><td>{{ i }}</td><td>{{ first_name }}</td></tr>{% endfor %}"
    _, rendered = render_preview("Hello", rows, ROW)
    assert rendered.count("<tr>") == 2000 and len(rendered) < MAX_RENDERED_CHARS


def test_job_creation_refuses_a_heavy_template(make_user, make_sender, api):
    user = make_user()
    make_sender(user, "news@example.com")
    client = api(user)
    started = time.monotonic()
    answer = client.post("/api/email-jobs", json={"subject": "Hi", "html_content": HEAVY["nested loops"],
                                                  "recipients": [{"email": "a@example.com"}]})
    assert answer.status_code == 422 and "too complex" in answer.json()["detail"]
    assert time.monotonic() - started < RENDER_SECONDS + 2
    assert client.get("/api/email-jobs").json()["total"] == 0


def test_job_creation_tries_rows_beyond_the_first(make_user, make_sender, api):
    """A template that only explodes for some rows' data is refused when a sampled row makes it explode."""
    user = make_user()
    make_sender(user, "news@example.com")
    html = "{% for i in range(n|int) %}{% for j in range(n|int) %}x{% endfor %}{% endfor %}"
    recipients = [{"email": f"r{i}@example.com", "n": "1"} for i in range(60)]
    recipients[-1]["n"] = "99999"
    answer = api(user).post("/api/email-jobs", json={"subject": "Hi", "html_content": html, "recipients": recipients})
    assert answer.status_code == 422, answer.text


def test_a_message_over_the_limits_fails_alone_and_the_rest_is_sent(make_user, make_sender, api, engine, emulator):
    """Data the samples did not cover: that recipient fails with the reason; the batch goes on."""
    user = make_user()
    make_sender(user, "news@example.com")
    html = "<p>{% for i in range(n|int) %}{% for j in range(n|int) %}x{% endfor %}{% endfor %}</p>"
    recipients = [{"email": f"r{i}@example.com", "n": "2"} for i in range(40)]
    recipients[11]["n"] = "50000"  # not among the 20 rows tried at creation
    created = api(user).post("/api/email-jobs", json={"subject": "Hi", "html_content": html,
                                                      "recipients": recipients})
    assert created.status_code == 201, created.text
    engine()
    job = wait_job_done(created.json()["id"])
    rows = {r["email"]: r for r in recipient_rows(job.id)}
    assert rows["r11@example.com"]["status"] == "failed"
    assert "too complex" in rows["r11@example.com"]["error_message"]
    assert sum(r["status"] == "sent" for r in rows.values()) == 39
    delivered = {m["to"] for m in emulator.messages()}
    assert "r11@example.com" not in delivered and len(delivered) == 39
