"""The merged OpenAPI document promises what the services answer (make fuzz holds them to it)."""

from __future__ import annotations

from typing import Any

from chassis.openapi import merge
from gateway.app import gateway_spec
from gateway.auth import CREDENTIAL_OPTIONAL
from gateway.openapi import credentials_checked
from tests.support.documents import service_documents


def merged() -> dict[str, Any]:
    """As the gateway merges them (`gateway.openapi.MergedSpec`)."""
    services = [credentials_checked(doc) for doc in service_documents()]
    return merge([gateway_spec().document(), *services], title="test", version="0")


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for ops in doc["paths"].values() for op in ops.values()}


def schema(op: dict[str, Any], status: str) -> dict[str, Any]:
    found: dict[str, Any] = op["responses"][status]["content"]["application/json"]["schema"]
    return found


def test_every_link_names_an_operation_and_its_parameters() -> None:
    ops = operations(merged())
    links = [
        link for op in ops.values() for r in op["responses"].values() for link in r.get("links", {}).values()
    ]
    assert len(links) > 30
    for link in links:
        target = ops[link["operationId"]]
        names = {p["name"] for p in target.get("parameters", [])}
        assert set(link["parameters"]) <= names, link


def test_bodies_and_queries_list_the_errors_binding_answers() -> None:
    for op in operations(merged()).values():
        statuses = set(op["responses"])
        if "application/json" in op.get("requestBody", {}).get("content", {}):
            assert {"413", "415", "422"} <= statuses, op["operationId"]
        if any(p["in"] == "query" for p in op.get("parameters", [])):
            assert "422" in statuses, op["operationId"]
        if "security" in op:
            assert "401" in statuses, op["operationId"]


def test_a_credential_sent_to_a_public_operation_may_be_refused() -> None:
    doc = merged()
    listing = doc["paths"]["/personas"]["get"]
    assert {} in listing["security"] and "401" in listing["responses"]
    for path in CREDENTIAL_OPTIONAL & set(doc["paths"]):
        assert all("security" not in op for op in doc["paths"][path].values()), path
    assert "security" not in doc["paths"]["/healthz"]["get"]


def test_answers_outside_the_envelope_are_described_as_they_are() -> None:
    ops = operations(merged())
    assert schema(ops["get_healthz"], "200") == {"$ref": "#/components/schemas/Liveness"}
    assert schema(ops["get_readyz"], "503") == {"$ref": "#/components/schemas/Readiness"}
    assert schema(ops["get_personas_persona_id_card_json"], "200") == {
        "$ref": "#/components/schemas/CharacterCard"
    }
    report = ops["post_personas_persona_id_report"]["responses"]
    assert report["200"] == {k: v for k, v in report["201"].items() if k != "links"}
    assert "data" in schema(ops["get_personas"], "200")["properties"]
    assert "422" in ops["delete_users_user_id_follow"]["responses"]
    content = ops["get_media_media_id_content"]["responses"]["200"]["content"]
    assert {"image/png", "video/mp4"} <= set(content)
