"""The gateway's route table: which service owns a path prefix, and that service's operations
(path template, method, whether a credential is required, largest body) read from the OpenAPI
document it publishes, so a request is resolved before a byte of its body is read."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chassis.errors import MethodNotAllowed, NotFound
from chassis.openapi import DEFAULT_MAX_BODY

ROUTES: tuple[tuple[str, str], ...] = (
    ("/auth", "auth"),
    ("/personas", "persona"),
    ("/users", "persona"),
    ("/feed", "persona"),
    ("/conversations", "persona"),
    ("/rooms", "persona"),
    ("/media", "media"),
)
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_PARAM = re.compile(r"{[^}/]+}")


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    template: str
    auth: bool
    max_body: int


@dataclass
class _Template:
    pattern: re.Pattern[str]
    # Literal segments win over parameters (`/personas/reports` before `/personas/{id}`), as
    # the services' own route order has it.
    literals: int
    operations: dict[str, Operation] = field(default_factory=dict)


def needs_credential(operation: dict[str, Any]) -> bool:
    """OpenAPI `security`: absent or empty means anonymous; an empty requirement `{}` among the
    alternatives means a credential is optional."""
    security = operation.get("security") or []
    return bool(security) and all(security)


def compile_document(service: str, document: dict[str, Any]) -> list[_Template]:
    templates: list[_Template] = []
    for path, item in document.get("paths", {}).items():
        regex = "".join(
            "[^/]+" if _PARAM.fullmatch(part) else re.escape(part) for part in re.split(r"({[^}/]+})", path)
        )
        literals = sum(1 for seg in path.split("/") if seg and not _PARAM.fullmatch(seg))
        template = _Template(re.compile(regex), literals)
        for method, operation in item.items():
            if method not in METHODS or not isinstance(operation, dict):
                continue
            limit = operation.get("x-max-body", DEFAULT_MAX_BODY)
            template.operations[method.upper()] = Operation(
                service,
                method.upper(),
                path,
                needs_credential(operation),
                limit if isinstance(limit, int) and limit >= 0 else DEFAULT_MAX_BODY,
            )
        templates.append(template)
    templates.sort(key=lambda t: t.literals, reverse=True)
    return templates


class RouteTable:
    def __init__(self, routes: Iterable[tuple[str, str]] = ROUTES) -> None:
        # Longest prefix first, so `/media/x` never falls to a shorter `/m`.
        self.routes = sorted(routes, key=lambda r: len(r[0]), reverse=True)
        self._operations: dict[str, list[_Template]] = {}

    def resolve(self, path: str) -> str | None:
        for prefix, service in self.routes:
            if path == prefix or path.startswith(prefix + "/"):
                return service
        return None

    def services(self) -> list[str]:
        return sorted({service for _, service in self.routes})

    def load(self, service: str, document: dict[str, Any]) -> None:
        self._operations[service] = compile_document(service, document)

    def loaded(self, service: str) -> bool:
        return service in self._operations

    def match(self, service: str, method: str, path: str) -> Operation:
        """The operation for `method path`; NotFound or MethodNotAllowed (with `Allow`) otherwise."""
        allowed: set[str] = set()
        for template in self._operations.get(service, []):
            if not template.pattern.fullmatch(path):
                continue
            ops = template.operations
            found = ops.get(method) or (ops.get("GET") if method == "HEAD" else None)
            if found is not None:
                return found
            allowed |= set(ops) | ({"HEAD"} if "GET" in ops else set())
        if allowed:
            allow = ", ".join(sorted(allowed))
            raise MethodNotAllowed(
                f"{method} is not allowed on {path}; allowed: {allow}",
                details={"allowed": sorted(allowed)},
                headers={"Allow": allow},
            )
        raise NotFound(f"no route for {method} {path}")
