"""A stand-in for Supabase's HTTP API (PostgREST + Storage), the one edge that cannot run here.

It answers only the requests the Supabase store makes, checks the service key on each, and
keeps rows and objects in memory. The SQL itself is exercised for real by the Postgres store.
"""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import default
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def uploaded_file(content_type: str, body: bytes) -> bytes:
    """The file part of a multipart/form-data upload (storage3 sends one)."""
    if not content_type.startswith("multipart/"):
        return body
    message = BytesParser(policy=default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_filename():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError("no file in the upload")


def fake_supabase(service_key: str) -> Starlette:
    rows: dict[str, dict[str, Any]] = {}
    objects: dict[str, bytes] = {}

    def authorised(request: Request) -> bool:
        return (
            request.headers.get("apikey") == service_key
            and request.headers.get("authorization") == f"Bearer {service_key}"
        )

    def denied() -> JSONResponse:
        return JSONResponse({"message": "Invalid API key"}, 401)

    async def table(request: Request) -> Response:
        if not authorised(request):
            return denied()
        if request.path_params["table"] != "pulse_results":
            return JSONResponse({"message": "relation does not exist"}, 404)
        if request.method == "POST":
            assert request.query_params.get("on_conflict") == "job_id"
            assert "merge-duplicates" in request.headers.get("prefer", "")
            body = await request.json()
            for row in body if isinstance(body, list) else [body]:
                rows[row["job_id"]] = row
            return JSONResponse(body if isinstance(body, list) else [body], 201)
        found = list(rows.values())
        for key, value in request.query_params.multi_items():
            if value.startswith("eq."):
                found = [r for r in found if str(r.get(key)) == value[3:]]
        order = request.query_params.get("order")
        if order:
            column, _, direction = order.partition(".")
            found.sort(key=lambda r: r[column], reverse=direction.startswith("desc"))
        if "limit" in request.query_params:
            found = found[: int(request.query_params["limit"])]
        columns = request.query_params.get("select", "*")
        if columns != "*":
            found = [{c: r.get(c) for c in columns.split(",")} for r in found]
        return JSONResponse(found)

    async def storage(request: Request) -> Response:
        if not authorised(request):
            return denied()
        key = f"{request.path_params['bucket']}/{request.path_params['path']}"
        if request.method in ("POST", "PUT"):
            objects[key] = uploaded_file(request.headers["content-type"], await request.body())
            return JSONResponse({"Key": key, "Id": key})
        if key not in objects:
            body = {"statusCode": "404", "error": "not_found", "message": "Object not found"}
            return Response(json.dumps(body), 400, media_type="application/json")
        return Response(objects[key], media_type="audio/mpeg")

    return Starlette(
        routes=[
            Route("/rest/v1/{table}", table, methods=["GET", "POST"]),
            Route(
                "/storage/v1/object/{bucket}/{path:path}", storage, methods=["GET", "POST", "PUT"]
            ),
        ]
    )
