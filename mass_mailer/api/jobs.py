"""Email jobs of the signed-in user: create (CSV upload or JSON, now or scheduled), list, progress, recipients,
pause, resume, reschedule, start now, retry, cancel."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from mass_mailer.api.deps import CurrentUser, SessionDep
from mass_mailer.api.errors import validation_message
from mass_mailer.api.fields import Text, form_text
from mass_mailer.errors import InvalidInput, PayloadTooLarge
from mass_mailer.services import jobs
from mass_mailer.settings import get_settings

router = APIRouter(prefix="/api/email-jobs", tags=["email jobs"])
Offset = Annotated[int, Query(ge=0, le=2**63 - 1)]  # PostgreSQL's OFFSET is a bigint
_FORM_ALLOWANCE = 4 * 1024 * 1024  # room for the subject and HTML fields next to the CSV file


class JobRequest(BaseModel):
    """The JSON form of a new job."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(None, max_length=200, description="the campaign's name; jobs are listed by it")
    subject: Text = Field(max_length=998)
    html_content: Text = Field(max_length=2_000_000)
    recipients: list[dict[Text, Any]]
    sender_ids: list[int] | None = None
    send_at: datetime | None = Field(None, description="ISO 8601 with an offset: the job is `scheduled` until then "
                                                       "(at most a year ahead; not in the past)")

    @field_validator("recipients")
    @classmethod
    def _text_values(cls, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for row in rows:
            for value in row.values():
                if isinstance(value, str):
                    TypeAdapter(Text).validate_python(value)
                elif isinstance(value, float) and not math.isfinite(value):
                    raise ValueError("recipient values must be finite numbers")
                elif value is not None and not isinstance(value, (bool, int, float)):
                    raise ValueError("recipient values must be text, numbers, booleans or null")
        return rows


_UPLOAD_FORM = {"type": "object", "required": ["subject", "html_content", "recipients"], "properties": {
    "name": {"type": "string", "description": "the campaign's name; jobs are listed by it"},
    "subject": {"type": "string"}, "html_content": {"type": "string"},
    "recipients": {"type": "string", "format": "binary", "description": "CSV file with a header row"},
    "email_column": {"type": "string", "description": "the header of the address column, if not 'email'"},
    "sender_ids": {"type": "string", "description": "comma-separated sender ids; default: all active senders"},
    "send_at": {"type": "string", "format": "date-time",
                "description": "ISO 8601 with an offset: the job is scheduled until then"}}}


@router.post("", status_code=201, openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": JobRequest.model_json_schema()},
    "multipart/form-data": {"schema": _UPLOAD_FORM}}}})
async def create_job(request: Request, user: CurrentUser, session: SessionDep) -> jobs.JobCreated:
    """Create and start a job from a multipart CSV upload or a JSON body; with `send_at`, it is `scheduled` until
    then."""
    jobs.check_job_rate(user)  # before the body is read or parsed: the costly part is what the limit protects
    limit = get_settings().max_upload_mb * 1024 * 1024
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        # Parsed as it arrives (the file part spools to a temporary file): the body is never held whole besides it.
        fields = await _multipart(request, bounded_stream(request, limit + _FORM_ALLOWANCE), limit)
        return await run_in_threadpool(jobs.create_job_from_csv, session=session, user=user, **fields)
    job = _json_body(await bounded_body(request, limit + _FORM_ALLOWANCE))
    return await run_in_threadpool(jobs.create_job_from_list, session=session, user=user, **job.model_dump())


async def bounded_body(request: Request, cap: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `cap` (also when sent chunked, without a length)."""
    return b"".join([chunk async for chunk in bounded_stream(request, cap)])


def bounded_stream(request: Request, cap: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, refused with 413 as soon as it passes `cap` (at once when its declared length
    does; also when sent chunked, without a length)."""
    declared = request.headers.get("content-length", "")
    too_large = PayloadTooLarge(f"The upload is larger than {get_settings().max_upload_mb} MB")
    if declared.isdigit() and int(declared) > cap:
        raise too_large

    async def chunks() -> AsyncIterator[bytes]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise too_large
            yield chunk

    return chunks()


async def read_multipart(request: Request, body: bytes | AsyncIterator[bytes], limit: int, *, file_field: str,
                         ) -> tuple[bytes, dict[str, str]]:
    """The file of a multipart form (at most `limit` bytes, 413 beyond) and its other fields as text; `body` is the
    whole body or the body as it arrives."""
    async def once():
        yield body

    try:
        form = await MultiPartParser(request.headers, once() if isinstance(body, bytes) else body,
                                     max_part_size=_FORM_ALLOWANCE).parse()
    except MultiPartException as exc:
        raise InvalidInput(f"The form could not be read: {exc.message}") from None
    try:
        upload = form.get(file_field)
        if not isinstance(upload, UploadFile):
            raise InvalidInput(f"Attach the CSV file as the '{file_field}' field")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"The file is larger than {get_settings().max_upload_mb} MB")
        fields = {name: form_text(value, name) for name, value in form.multi_items()
                  if not isinstance(value, UploadFile)}
    finally:
        await form.close()  # the spooled file part: its temporary file goes now, not when collected
    return data, fields


async def _multipart(request: Request, body: bytes | AsyncIterator[bytes], limit: int) -> dict[str, Any]:
    data, form = await read_multipart(request, body, limit, file_field="recipients")
    return {"name": form.get("name") or None, "subject": form.get("subject", ""),
            "html_content": form.get("html_content", ""), "data": data,
            "email_column": form.get("email_column") or None, "sender_ids": _ids(form.get("sender_ids", "")),
            "send_at": form.get("send_at") or None}


def _json_body(body: bytes) -> JobRequest:
    try:
        return JobRequest.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc.errors())) from None


def _ids(text: str) -> list[int] | None:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part] or None
    except ValueError:
        raise InvalidInput("sender_ids must be comma-separated numbers") from None


@router.get("")
def list_jobs(user: CurrentUser, session: SessionDep, limit: int = Query(20, ge=1, le=200),
              offset: Offset = 0, kind: Literal["all", "campaign", "test"] = "all") -> jobs.JobPage:
    """The user's jobs, newest first; `kind=campaign` or `kind=test` lists only campaigns or only test sends."""
    return jobs.list_jobs(session=session, user_id=user.id, limit=limit, offset=offset,
                          kind=None if kind == "all" else kind)


@router.get("/{job_id}")
def get_job(job_id: int, user: CurrentUser, session: SessionDep) -> jobs.JobView:
    """One job."""
    return jobs.get_job(session=session, user_id=user.id, job_id=job_id)


@router.get("/{job_id}/status")
def job_status(job_id: int, user: CurrentUser, session: SessionDep) -> jobs.JobStatusView:
    """Progress, pace and time left."""
    return jobs.job_status(session=session, user_id=user.id, job_id=job_id)


@router.get("/{job_id}/recipients", response_model=None)
def recipients(job_id: int, user: CurrentUser, session: SessionDep,
               status: Literal["pending", "sent", "failed", "cancelled", "delivery_unknown", "suppressed"] | None = None,
               q: Text | None = Query(None, max_length=320), limit: int = Query(50, ge=1, le=1000),
               offset: Offset = 0, format: Literal["json", "csv"] = "json",
               ) -> jobs.RecipientPage | StreamingResponse:
    """A page of recipients, or all of them as a CSV download with `format=csv`."""
    if format == "csv":
        lines = jobs.export_recipients_csv(session=session, user_id=user.id, job_id=job_id)
        return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="job-{job_id}-recipients.csv"'})
    return jobs.list_recipients(session=session, user_id=user.id, job_id=job_id, status=status, q=q,
                                limit=limit, offset=offset)


@router.delete("/{job_id}")
def cancel_job(job_id: int, user: CurrentUser, session: SessionDep) -> jobs.JobView:
    """Cancel a job that has not finished (scheduled, queued, running or paused); 409 once it has finished."""
    return jobs.cancel_job(session=session, user_id=user.id, job_id=job_id)


class JobChange(BaseModel):
    """What can be changed on a job: a scheduled job's start."""

    model_config = ConfigDict(extra="forbid")

    send_at: datetime = Field(description="ISO 8601 with an offset; not in the past, at most a year ahead")


@router.patch("/{job_id}")
def change_job(job_id: int, change: JobChange, user: CurrentUser, session: SessionDep) -> jobs.JobView:
    """Reschedule a scheduled job; 409 in another state."""
    return jobs.reschedule_job(session=session, user_id=user.id, job_id=job_id, send_at=change.send_at)


@router.post("/{job_id}/pause")
def pause_job(job_id: int, user: CurrentUser, session: SessionDep) -> jobs.JobView:
    """Pause a queued or running job: no new send starts within 2 s; 409 in another state."""
    return jobs.pause_job(session=session, user_id=user.id, job_id=job_id)


@router.post("/{job_id}/resume")
def resume_job(job_id: int, user: CurrentUser, session: SessionDep) -> jobs.JobView:
    """Resume a paused job where it stopped; 409 in another state."""
    return jobs.resume_job(session=session, user_id=user.id, job_id=job_id)


@router.post("/{job_id}/start")
def start_job(job_id: int, user: CurrentUser, session: SessionDep) -> jobs.JobView:
    """Start a scheduled job now instead of at its `send_at`; 409 in another state."""
    return jobs.start_job_now(session=session, user_id=user.id, job_id=job_id)


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_unknown: bool = Field(False, description="also re-send recipients whose delivery is unknown (they may "
                                                     "have received the email already)")


@router.post("/{job_id}/retry")
async def retry_job(job_id: int, request: Request, user: CurrentUser, session: SessionDep) -> jobs.RetryResult:
    """Re-queue a finished job's recipients that failed for a temporary or sender-level reason (never bad
    addresses); `{"include_unknown": true}` adds those whose delivery is unknown. 409 when nothing can be retried."""
    body = await request.body()
    try:
        options = RetryRequest.model_validate_json(body) if body.strip() else RetryRequest()
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc.errors())) from None
    return await run_in_threadpool(jobs.retry_job, session=session, user_id=user.id, job_id=job_id,
                                   include_unknown=options.include_unknown)
