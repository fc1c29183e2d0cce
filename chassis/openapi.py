"""A service's OpenAPI 3.1 document, built by walking its route table: each handler declares what
the document says of its operation (`@Doc`), each route what it enforces (`auth`, `max_body`);
the schemas come from the msgspec proto types."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import msgspec
from starlette.routing import BaseRoute, Route

from chassis.binding import MAX_JSON_BODY
from proto.common import ErrorEnvelope, Meta

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?}")
REF = "#/components/schemas/{name}"
# `{id:int}` is `{id}` in the document, as in Starlette's own schema generator.
_CONVERTER = re.compile(r":\w+}")
_DOC = "__openapi_doc__"
HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
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


@dataclass(frozen=True)
class Doc:
    """What the document says of an operation, declared on its handler; the handler's docstring
    is the operation's description, and `route()` documents the handler's routes with it:

        @Doc("Sign in with email and password", body=LoginRequest, response=TokenPair, errors=(401,))
        async def login(request: Request) -> Response:
            '''A wrong password and an unknown email give the same 401. …'''
    """

    summary: str
    body: Any = None
    response: Any = None
    status: int = 200
    tags: tuple[str, ...] = ()
    query: Any = None
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"
    # One media type, or several (a file endpoint answering whichever the stored file is).
    response_type: str | tuple[str, ...] = "application/json"
    # `@Doc` sets it from the handler's docstring.
    description: str = ""
    # False: the response is the type itself, not `{"data": …, "meta": …}` (probes, file exports).
    envelope: bool = True
    # Other success statuses answered with the same body (a repeated report: 200 beside 201).
    also: tuple[int, ...] = ()
    # OpenAPI links from the success answer: "METHOD /path" of the operation → its parameters as
    # runtime expressions (`$response.body#/data/id`). Clients and stateful fuzzing follow them.
    links: dict[str, dict[str, str]] = field(default_factory=dict)

    def __call__(self, handler: HandlerT) -> HandlerT:
        setattr(handler, _DOC, replace(self, description=self.description or docstring(handler)))
        return handler


def handler_doc(handler: Callable[..., Any]) -> Doc | None:
    """What `@Doc(…)` declared on `handler` (None: nothing)."""
    doc = getattr(handler, _DOC, None)
    return doc if isinstance(doc, Doc) else None


def docstring(handler: Callable[..., Any]) -> str:
    """A docstring as one line a paragraph (Markdown reads them alike; the document stays compact)."""
    paragraphs = (inspect.getdoc(handler) or "").split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    doc: Doc
    # What the route enforces, and the gateway before it: a credential (the document's
    # `security`), and the largest body (`x-max-body`), refused before any of it is stored.
    auth: bool = False
    max_body: int = DEFAULT_MAX_BODY


class DescribedRoute(Route):
    """A Starlette route that carries its operation's `Doc` (None: not described)."""

    def __init__(
        self, path: str, endpoint: Any, *, doc: Doc | None, auth: bool, max_body: int, **kwargs: Any
    ) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.doc = doc
        self.auth = auth
        self.max_body = max_body


def route_operations(routes: Iterable[BaseRoute]) -> list[Operation]:
    """The operations the described routes serve, in route order (Starlette's `get_endpoints` walk)."""
    found: list[Operation] = []
    for route in routes:
        if isinstance(route, DescribedRoute) and route.doc is not None and route.include_in_schema:
            path = _CONVERTER.sub("}", route.path)
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append(Operation(method.lower(), path, route.doc, route.auth, route.max_body))
    return found


@dataclass
class OpenAPI:
    """A service's document: its title and description, the operations its routes describe, and
    any added here (`add`) for an app whose routes are not Starlette routes (the gateway)."""

    title: str
    version: str = "0.1.0"
    description: str = ""
    # The tags of an operation that names none.
    tags: tuple[str, ...] = ()
    operations: list[Operation] = field(default_factory=list)

    def add(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        auth: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
        **kwargs: Any,
    ) -> None:
        self.operations.append(Operation(method.lower(), path, Doc(summary, **kwargs), auth, max_body))

    def document(self, routes: Iterable[BaseRoute] = ()) -> dict[str, Any]:
        operations = [*self.operations, *route_operations(routes)]
        types: list[Any] = [ErrorEnvelope, Meta]
        for op in operations:
            for t in (op.doc.body, op.doc.response, op.doc.query):
                if t is not None and t not in types:
                    types.append(t)
        schemas, components = msgspec.json.schema_components(types, ref_template=REF)
        by_type = dict(zip(types, schemas, strict=True))
        paths: dict[str, dict[str, Any]] = {}
        for op in operations:
            paths.setdefault(op.path, {})[op.method] = self._operation(op, by_type, components)
            if op.doc.content_type == "multipart/form-data" and op.doc.body is not None:
                _files_as_binary(by_type[op.doc.body], components)
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
        d = op.doc
        if d.query is not None:
            query = _resolved(by_type[d.query], components)
            required = set(query.get("required", []))
            params += [
                {"name": key, "in": "query", "required": key in required, "schema": value}
                for key, value in query.get("properties", {}).items()
            ]
        out: dict[str, Any] = {"summary": d.summary, "operationId": _operation_id(op.method, op.path)}
        if d.description:
            out["description"] = d.description
        if d.tags or self.tags:
            out["tags"] = list(d.tags or self.tags)
        if params:
            out["parameters"] = params
        if d.body is not None:
            out["requestBody"] = {
                "required": True,
                "content": {d.content_type: {"schema": by_type[d.body]}},
            }
        if op.auth:
            out["security"] = [{"bearer": []}, {"apiKey": []}]
        out["x-max-body"] = op.max_body
        responses: dict[str, Any] = {}
        for status in (d.status, *d.also):
            responses[str(status)] = self._success(d, by_type)
        if d.links:
            responses[str(d.status)]["links"] = {
                _operation_id(*target.split(" ", 1)): {
                    "operationId": _operation_id(*target.split(" ", 1)),
                    "parameters": parameters,
                }
                for target, parameters in d.links.items()
            }
        statuses = set(d.errors)
        if d.body is not None:
            # bind(): a body that is not JSON, too large, or not of the type.
            statuses |= {413, 415, 422}
        if op.max_body != DEFAULT_MAX_BODY:
            statuses.add(413)  # the gateway refuses a body over `x-max-body`
        if d.query is not None:
            # bind_query(): a parameter of the wrong type or out of range, a cursor not ours.
            statuses.add(422)
        if op.auth:
            statuses.add(401)
        for status in sorted(statuses):
            responses[str(status)] = error_response(status)
        out["responses"] = responses
        return out

    @staticmethod
    def _success(doc: Doc, by_type: dict[Any, Any]) -> dict[str, Any]:
        if doc.status == 204:
            return {"description": "No content"}
        if doc.response_type != "application/json":
            types = (doc.response_type,) if isinstance(doc.response_type, str) else doc.response_type
            return {"description": "OK", "content": {t: {} for t in types}}
        data = by_type[doc.response] if doc.response is not None else {}
        if not doc.envelope:
            return {"description": "OK", "content": {"application/json": {"schema": data}}}
        schema = {
            "type": "object",
            "properties": {"data": data, "meta": {"$ref": REF.format(name="Meta")}},
            "required": ["data", "meta"],
        }
        return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _resolved(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The component a `$ref` schema names (an inline schema is itself)."""
    found: dict[str, Any] = components.get(schema.get("$ref", "").rsplit("/", 1)[-1], schema)
    return found


def _files_as_binary(schema: dict[str, Any], components: dict[str, Any]) -> None:
    """msgspec describes bytes as base64 JSON; a multipart form's file field is raw binary."""
    props = _resolved(schema, components).get("properties", {})
    for key, prop in list(props.items()):
        if prop.get("contentEncoding") == "base64":
            props[key] = {
                "type": "string",
                "format": "binary",
                **({"description": prop["description"]} if "description" in prop else {}),
            }


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
