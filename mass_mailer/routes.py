"""Every UI route in one place: below the pages, components, states and the API that all use them."""

DASHBOARD = "/"
COMPOSE = "/new"
SENDERS = "/senders"
JOB = "/jobs/[job_id]"
ADMIN = "/admin"
PROFILE = "/profile"
OUTBOX = "/outbox"
SUPPRESSIONS = "/suppressions"

# Browser navigations handled by the REST API (they set cookies and redirect back).
SIGN_IN = "/api/auth/login"
SIGN_OUT = "/api/auth/signout"
CONNECT_SENDER = "/api/senders/connect"
SUPPRESSIONS_EXPORT = "/api/suppressions?format=csv"  # the whole suppression list as a CSV download


def job(job_id: int | str) -> str:
    """The page of one job."""
    return f"/jobs/{job_id}"


def job_export(job_id: int | str) -> str:
    """The CSV download of one job's recipients."""
    return f"/api/email-jobs/{job_id}/recipients?format=csv"
