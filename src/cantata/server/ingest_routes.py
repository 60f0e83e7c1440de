"""The ingestion route: a file's rows into an entity — upserts and deletes (CDC), bad rows to
quarantine — as `cantata ingest ENTITY FILE` does. The body is the file, streamed to disk."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from cantata.ingest import ingest_file
from cantata.server.auth import Editor
from cantata.server.bodies import MAX_UPLOAD
from cantata.server.errors import AUTHENTICATED, ApiError, responses
from cantata.server.service import ServiceDep

router = APIRouter(
    prefix="/entities", tags=["ingest"], responses=AUTHENTICATED, max_body_size=MAX_UPLOAD
)

SUFFIXES = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl"}


@router.post(
    "/{entity}/rows",
    summary="Load a file (CSV, Parquet or JSON Lines) into an entity",
    responses=responses(400, 409),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file, as `cantata ingest` reads it (up to 1 GiB).",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def ingest(
    entity: str,
    request: Request,
    service: ServiceDep,
    _: Editor,
    format: Annotated[Literal["csv", "parquet", "jsonl"], Query(description="The file's format")],
    name: Annotated[str, Query(max_length=200, description="The file's name, for messages")] = "",
) -> dict[str, Any]:
    if service.quarantine_dir is None:
        raise ApiError(409, "this server has no quarantine folder: serve it from a workspace")
    quarantine = service.quarantine_dir
    with tempfile.TemporaryDirectory(prefix="cantata-upload-") as folder:
        # The name the quarantine file and the messages show; the path is ours.
        stem = Path(name).stem or "upload"  # the last part only: never a path of the caller's
        path = Path(folder) / f"{stem}{SUFFIXES[format]}"
        size = 0
        with path.open("wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                out.write(chunk)
        if not size:
            raise ApiError(422, "the request body is empty: send the file", where="body")

        def work() -> dict[str, Any]:
            with service.store() as store:
                result = ingest_file(store, service.model, entity, path, quarantine_dir=quarantine)
            return result.as_json()

        return await run_in_threadpool(work)
