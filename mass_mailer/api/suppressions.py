"""The signed-in user's suppression list: addresses their jobs never send to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mass_mailer.api.deps import CurrentUser, SessionDep
from mass_mailer.api.fields import Text
from mass_mailer.api.jobs import Offset, bounded_body, read_multipart
from mass_mailer.errors import InvalidInput
from mass_mailer.services import suppressions
from mass_mailer.settings import get_settings

router = APIRouter(prefix="/api/suppressions", tags=["suppressions"])


class SuppressionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Text = Field(max_length=320)


_IMPORT_FORM = {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "CSV file with a header row and an email column"},
    "email_column": {"type": "string", "description": "the header of the address column, if not found by name"}}}


@router.get("", response_model=None)
def list_suppressions(user: CurrentUser, session: SessionDep, q: Text | None = Query(None, max_length=320),
                      limit: int = Query(50, ge=1, le=500), offset: Offset = 0,
                      format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
                      ) -> suppressions.SuppressionPage | StreamingResponse:
    """A page of the list, newest first (`q` searches the address), or all of it with `format=csv`."""
    if format == "csv":
        return StreamingResponse(suppressions.export_csv(session=session, user_id=user.id),
                                 media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="suppressions.csv"'})
    return suppressions.list_suppressions(session=session, user_id=user.id, q=q, limit=limit, offset=offset)


@router.post("", status_code=201)
def add_suppression(body: SuppressionRequest, user: CurrentUser, session: SessionDep) -> suppressions.SuppressionView:
    """Suppress an address by hand (reason `manual`); its pending sends in running jobs are skipped at once."""
    return suppressions.add(session=session, user_id=user.id, email=body.email)


@router.post("/import", openapi_extra={"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": _IMPORT_FORM}, "text/csv": {"schema": {"type": "string"}}}}})
async def import_suppressions(request: Request, user: CurrentUser, session: SessionDep) -> suppressions.ImportResult:
    """Suppress every address of a CSV file (reason `imported`): a multipart `file` field, or the CSV as the body."""
    limit = get_settings().max_upload_mb * 1024 * 1024
    body = await bounded_body(request, limit + 64 * 1024)
    email_column = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        data, fields = await read_multipart(request, body, limit, file_field="file")
        email_column = fields.get("email_column") or None
    else:
        data = body
    if not data.strip():
        raise InvalidInput("The file is empty")
    return await run_in_threadpool(suppressions.import_csv, session=session, user_id=user.id, data=data,
                                   email_column=email_column)


@router.delete("/{email}", status_code=204, response_class=Response)
def remove_suppression(email: Annotated[str, Field(max_length=320)], user: CurrentUser,
                       session: SessionDep) -> Response:
    """Take an address off the list; 404 when it is not on it."""
    suppressions.remove(session=session, user_id=user.id, email=email)
    return Response(status_code=204)
