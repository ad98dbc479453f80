"""The shared rate limiter counts per name and identity in Redis."""

from __future__ import annotations

import pytest

from mass_mailer.errors import RateLimited
from mass_mailer.services import ratelimit


def test_limit_spent_raises_with_retry_after():
    for _ in range(3):
        ratelimit.check("job_create", "7", "3/minute")
    with pytest.raises(RateLimited) as caught:
        ratelimit.check("job_create", "7", "3/minute")
    assert 1 <= caught.value.retry_after <= 60
    ratelimit.check("job_create", "8", "3/minute")  # another identity has its own budget
    ratelimit.check("other", "7", "3/minute")  # and another name too
