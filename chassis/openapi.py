"""An OpenAPI 3.1 builder whose schemas come from the msgspec proto types."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from chassis.binding import MAX_JSON_BODY
from proto.common import ErrorEnvelope, Meta

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?}")
REF = "#/components/schemas/{name}"
# The body an operation accepts unless it declares `max_body` is `bind()`'s JSON limit; the
# gateway reads each operation's `x-max-body` and refuses a larger body before storing any of it.
DEFAULT_MAX_BODY = MAX_JSON_BODY

ERROR_STATUSES = {
    400: "Bad request",
    401: "Not signed in, or the token is invalid",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Validation failed; `details.field` names the field",
    429: "Rate limited; see Retry-After",
    503: "Service or dependency unavailable",
    504: "Service did not answer in time",
}


def error_response(status: int) -> dict[str, Any]:
    """An error status's response object: the error envelope."""
    return {
        "description": ERROR_STATUSES.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": REF.format(name="ErrorEnvelope")}}},
    }


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    body: Any = None
    response: Any = None
    status: int = 200
    auth: bool = False
    tags: tuple[str, ...] = ()
    query: Any = None
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"
    # One media type, or several (a file endpoint answering whichever the stored file is).
    response_type: str | tuple[str, ...] = "application/json"
    description: str = ""
    max_body: int = DEFAULT_MAX_BODY
    # False: the response is the type itself, not `{"data": …, "meta": …}` (probes, file exports).
    envelope: bool = True
    # Other success statuses answered with the same body (a repeated report: 200 beside 201).
    also: tuple[int, ...] = ()
    # OpenAPI links from the success answer: "METHOD /path" of the operation → its parameters as
    # runtime expressions (`$response.body#/data/id`). Clients and stateful fuzzing follow them.
    links: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class OpenAPI:
    title: str
    version: str = "0.1.0"
    description: str = ""
    operations: list[Operation] = field(default_factory=list)

    def add(self, method: str, path: str, summary: str, **kwargs: Any) -> None:
        self.operations.append(Operation(method.lower(), path, summary, **kwargs))

    def document(self) -> dict[str, Any]:
        types: list[Any] = [ErrorEnvelope, Meta]
        for op in self.operations:
            for t in (op.body, op.response, op.query):
                if t is not None and t not in types:
                    types.append(t)
        schemas, components = msgspec.json.schema_components(types, ref_template=REF)
        by_type = dict(zip(types, schemas, strict=True))
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method] = self._operation(op, by_type, components)
        doc: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version, "description": self.description},
            "paths": paths,
            "components": {
                "schemas": components,
                "securitySchemes": {
                    "bearer": {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "JWT",
                        "description": "An access token (15 minutes) from POST /auth/login, /auth/register,"
                        " /auth/code/verify or /auth/refresh: `Authorization: Bearer <access_token>`.",
                    },
                    "apiKey": {
                        "type": "apiKey",
                        "in": "header",
                        "name": "X-API-Key",
                        "description": "An API key (`pck_…`) created on the Account page or with"
                        " POST /auth/api-keys; shown once, valid until revoked.",
                    },
                },
            },
        }
        return doc

    def _operation(
        self, op: Operation, by_type: dict[Any, Any], components: dict[str, Any]
    ) -> dict[str, Any]:
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(op.path)
        ]
        if op.query is not None:
            schema = by_type[op.query]
            name = schema.get("$ref", "").rsplit("/", 1)[-1]
            props = components.get(name, schema).get("properties", {})
            required = set(components.get(name, schema).get("required", []))
            params += [
                {"name": key, "in": "query", "required": key in required, "schema": value}
                for key, value in props.items()
            ]
        out: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op.method, op.path)}
        if op.description:
            out["description"] = op.description
        if op.tags:
            out["tags"] = list(op.tags)
        if params:
            out["parameters"] = params
        if op.body is not None:
            out["requestBody"] = {
                "required": True,
                "content": {op.content_type: {"schema": by_type[op.body]}},
            }
        if op.auth:
            out["security"] = [{"bearer": []}, {"apiKey": []}]
        out["x-max-body"] = op.max_body
        responses: dict[str, Any] = {}
        for status in (op.status, *op.also):
            responses[str(status)] = self._success(op, by_type)
        if op.links:
            responses[str(op.status)]["links"] = {
                _operation_id(*target.split(" ", 1)): {
                    "operationId": _operation_id(*target.split(" ", 1)),
                    "parameters": parameters,
                }
                for target, parameters in op.links.items()
            }
        statuses = set(op.errors)
        if op.body is not None:
            # bind(): a body that is not JSON, too large, or not of the type.
            statuses |= {413, 415, 422}
        if op.max_body != DEFAULT_MAX_BODY:
            statuses.add(413)  # the gateway refuses a body over `x-max-body`
        if op.query is not None:
            # bind_query(): a parameter of the wrong type or out of range, a cursor not ours.
            statuses.add(422)
        if op.auth:
            statuses.add(401)
        for status in sorted(statuses):
            responses[str(status)] = error_response(status)
        out["responses"] = responses
        return out

    @staticmethod
    def _success(op: Operation, by_type: dict[Any, Any]) -> dict[str, Any]:
        if op.status == 204:
            return {"description": "No content"}
        if op.response_type != "application/json":
            types = (op.response_type,) if isinstance(op.response_type, str) else op.response_type
            return {"description": "OK", "content": {t: {} for t in types}}
        data = by_type[op.response] if op.response is not None else {}
        if not op.envelope:
            return {"description": "OK", "content": {"application/json": {"schema": data}}}
        schema = {
            "type": "object",
            "properties": {"data": data, "meta": {"$ref": REF.format(name="Meta")}},
            "required": ["data", "meta"],
        }
        return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[{}]", "", path).strip("/").replace("/", "_").replace("-", "_").replace(".", "_")
    return f"{method.lower()}_{words or 'root'}"


def merge(documents: list[dict[str, Any]], *, title: str, version: str) -> dict[str, Any]:
    """Merge service documents into one (the gateway's `/openapi.json`)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    schemes: dict[str, Any] = {}
    for doc in documents:
        for path, ops in doc.get("paths", {}).items():
            paths.setdefault(path, {}).update(ops)
        comps = doc.get("components", {})
        schemas.update(comps.get("schemas", {}))
        schemes.update(comps.get("securitySchemes", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items())), "securitySchemes": schemes},
    }
