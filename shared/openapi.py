"""An OpenAPI document that declares the errors a service really answers with.

FastAPI declares its own `HTTPValidationError` for a 422 on every route with a parameter,
while `shared.http_errors` answers every error with `ErrorBody`. `truthful_errors` makes the
document say so: a 422 is `ErrorBody` where a request value is validated and absent where
none is (a plain string path parameter cannot fail), a body that cannot be read at all is a
400, and every operation may answer an unexpected failure with a 500 quoting a request id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.http_errors import REQUEST_ID_HEADER, REQUEST_ID_RESPONSE_HEADER
from shared.schemas import ErrorBody

REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_REF = {"$ref": REF_TEMPLATE.format(model="ErrorBody")}
FASTAPI_422 = "#/components/schemas/HTTPValidationError"
INVALID_DESCRIPTION = (
    "a value in the request is not valid (`invalid_request`): `fields` names each one"
)
UNREADABLE_BODY: dict[str, Any] = {
    "description": "the body could not be read at all, e.g. bytes that are not UTF-8 "
    "(`http_error`; JSON that does not parse is a 422)",
    "content": {"application/json": {"schema": ERROR_REF}},
}
INTERNAL_ERROR: dict[str, Any] = {
    "description": "an unexpected failure (`internal_error`), logged under `request_id`",
    "headers": {REQUEST_ID_HEADER: REQUEST_ID_RESPONSE_HEADER},
    "content": {"application/json": {"schema": ERROR_REF}},
}


def component_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    """The models' JSON schemas (and those they use) as `components/schemas` entries."""
    top, defs = models_json_schema(
        [(m, "serialization") for m in models], ref_template=REF_TEMPLATE
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    for model in models:
        schema = top[(model, "serialization")]
        if "$ref" not in schema:
            schemas[model.__name__] = schema
    return schemas


def add_components(doc: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Add schemas to the document; one it holds already (FastAPI's rendering of the same
    model) stays."""
    held = doc.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        held.setdefault(name, schema)


def validates_input(route: APIRoute | RouteContext) -> bool:
    """Whether a request can fail this route's validation (a 422): a body, a query, header
    or cookie parameter, or a path parameter that is more than any string."""
    if route.body_field is not None:
        return True
    return any(
        not isinstance(f.field_info, params.Path)
        or f.field_info.annotation is not str
        or f.field_info.metadata
        for f in get_flat_params(route.dependant)
    )


def _is_fastapi_422(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == FASTAPI_422)


def _operations(app: FastAPI, doc: dict[str, Any]) -> list[tuple[RouteContext, dict[str, Any]]]:
    """Each API route (included routers' too, as FastAPI finds them) and its operation."""
    found = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            path = doc["paths"].get(route.path_format, {})
            found += [(route, path[m.lower()]) for m in route.methods or () if m.lower() in path]
    return found


def truthful_errors(doc: dict[str, Any], app: FastAPI) -> None:
    """Rewrite FastAPI's error declarations in `doc` (generated from `app`) in place."""
    for route, operation in _operations(app, doc):
        responses = operation.setdefault("responses", {})
        if "422" in responses and _is_fastapi_422(responses["422"]):
            if validates_input(route):
                responses["422"] = {
                    "description": INVALID_DESCRIPTION,
                    "content": {"application/json": {"schema": ERROR_REF}},
                }
            else:
                del responses["422"]
        if route.body_field is not None:
            responses.setdefault("400", UNREADABLE_BODY)
        responses.setdefault("500", INTERNAL_ERROR)
    held = doc.get("components", {}).get("schemas", {})
    for fastapi_own in ("HTTPValidationError", "ValidationError"):
        held.pop(fastapi_own, None)
    add_components(doc, component_schemas(ErrorBody))


def install(app: FastAPI, *more: Callable[[dict[str, Any]], None]) -> None:
    """Serve `app`'s document with truthful errors, then each of `more` applied to it."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            truthful_errors(doc, app)
            for change in more:
                change(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
