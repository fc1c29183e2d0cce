"""deploy/k8s renders (kubectl kustomize when present, our YAML renderer otherwise) into
manifests with the promises operations relies on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chassis.components import COMPONENTS, MODEL_SERVER, health_port
from chassis.discover import DEFAULT_HEALTH_BASE
from chassis.settings import Settings
from gateway.client_address import parse_networks
from gateway.sse import EventsPlugin
from tests.support.kustomize import render

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "production"


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True, check=True)
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    return render(OVERLAY)


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def test_a_deployment_per_component_with_probes_on_its_health_port(manifests: list[dict[str, Any]]) -> None:
    deployments = by_kind(manifests, "Deployment").values()
    kinds = {c.module: c for c in COMPONENTS}
    assert {d["spec"]["template"]["spec"]["containers"][0]["args"][0] for d in deployments} == set(kinds)
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        component = kinds[container["args"][0]]
        port = container["ports"][0]["containerPort"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env.get("PORT" if component.kind == "gateway" else "HEALTH_PORT") == str(port)
        # Every component, the gateway too, has a health port where `/metrics` is (as `make dev`).
        health = {p["name"]: p["containerPort"] for p in container["ports"]}["health"]
        assert env["HEALTH_PORT"] == str(health) == str(health_port(component, DEFAULT_HEALTH_BASE))
        assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["image"].startswith("registry.example.com/persona-community:")
        assert d["metadata"]["namespace"] == "persona"


def test_sse_streams_go_to_the_events_tier_and_requests_to_the_request_tier(
    manifests: list[dict[str, Any]],
) -> None:
    """One origin, two gateway Deployments of the same app, each under the server that measured
    best for its load (docs/operations.md, "The gateway's ASGI server")."""
    deployments = by_kind(manifests, "Deployment")
    services = by_kind(manifests, "Service")
    config = by_kind(manifests, "ConfigMap")["persona-config"]["data"]
    host = config["PUBLIC_URL"].removeprefix("https://")
    routes: dict[str, str] = {}
    for ingress in by_kind(manifests, "Ingress").values():
        assert [t["hosts"] for t in ingress["spec"]["tls"]] == [[host]]
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] == host
            for path in rule["http"]["paths"]:
                assert path["pathType"] == "Prefix"
                routes[path["path"]] = path["backend"]["service"]["name"]
                if path["path"] in EventsPlugin.prefixes:
                    # An event reaches the browser as it is written; an idle stream outlives heartbeats.
                    notes = ingress["metadata"]["annotations"]
                    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
                    timeout = float(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"])
                    assert timeout > 4 * Settings().sse_heartbeat
    assert routes == {**{prefix: "gateway-events" for prefix in EventsPlugin.prefixes}, "/": "gateway"}

    def server(service: str) -> str | None:
        selector = services[service]["spec"]["selector"]
        (deployment,) = (
            d
            for d in deployments.values()
            if d["spec"]["template"]["metadata"]["labels"].items() >= selector.items()
        )
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["gateway"]
        return {e["name"]: e.get("value") for e in container["env"]}.get("GATEWAY_SERVER")

    assert server("gateway-events") == "uvicorn"
    assert server("gateway") == "granian"
    # Behind the Ingress every peer is one of its pods: the client is the hop it adds.
    assert parse_networks(Settings.from_env(config).trusted_proxies)


def test_worker_termination_grace_outlasts_its_heartbeat_and_shutdown_grace(
    manifests: list[dict[str, Any]],
) -> None:
    config = by_kind(manifests, "ConfigMap")["persona-config"]["data"]
    settings = Settings.from_env(config)
    worker = by_kind(manifests, "Deployment")["generation-worker"]["spec"]["template"]["spec"]
    grace = worker["terminationGracePeriodSeconds"]
    assert grace > settings.worker_shutdown_grace
    assert grace > settings.job_ack_wait / 3


def test_autoscalers_target_gateway_and_worker(manifests: list[dict[str, Any]]) -> None:
    deployments = by_kind(manifests, "Deployment")
    targets = {
        h["spec"]["scaleTargetRef"]["name"] for h in by_kind(manifests, "HorizontalPodAutoscaler").values()
    }
    assert targets == {"gateway", "gateway-events", "generation-worker"}
    assert targets <= set(deployments)


def test_configuration_comes_from_configmap_and_secrets_that_exist(manifests: list[dict[str, Any]]) -> None:
    configmaps = by_kind(manifests, "ConfigMap")
    secrets = by_kind(manifests, "Secret")
    for d in by_kind(manifests, "Deployment").values():
        container = d["spec"]["template"]["spec"]["containers"][0]
        for source in container["envFrom"]:
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in configmaps
            else:
                assert source["secretRef"]["name"] in secrets
        for e in container["env"]:
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]]["stringData"]
    # Every configured name is a real setting (a typo would be silently ignored).
    fields = {name.upper() for name in Settings.__struct_fields__}
    assert set(configmaps["persona-config"]["data"]) <= fields
    assert set(secrets["persona-secrets"]["stringData"]) <= fields


def test_containerfile_runs_any_component_as_non_root() -> None:
    text = (ROOT / "deploy" / "Containerfile").read_text()
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and not users[-1].startswith(("0", "root"))
    assert 'ENTRYPOINT ["/opt/venv/bin/python", "-m"]' in text
    for c in COMPONENTS:
        assert f"COPY {c.module} ./{c.module}" in text


def test_compose_provides_cluster_database_and_object_store() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"nats-0", "nats-1", "nats-2", "postgres", "minio"} <= set(services)
    for name in ("nats-0", "nats-1", "nats-2"):
        command = services[name]["command"]
        assert command[:2] == ["-c", "/etc/nats/cluster.conf"]
    assert (ROOT / "deploy" / "nats" / "cluster.conf").exists()


def test_the_embedded_model_overlay_serves_the_worker_a_model_in_the_cluster() -> None:
    rendered = render(OVERLAY.parent / "embedded-model")
    deployments = by_kind(rendered, "Deployment")
    config = Settings.from_env(by_kind(rendered, "ConfigMap")["persona-config"]["data"])
    pod = deployments["model-server"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["args"] == ["model_server"] and pod["securityContext"]["runAsNonRoot"] is True
    assert env["HEALTH_PORT"] == str(ports["health"]) == str(health_port(MODEL_SERVER, DEFAULT_HEALTH_BASE))
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": ports["health"]}
    # The worker reaches it through its Service, with the key both read from persona-secrets.
    service = by_kind(rendered, "Service")["model-server"]
    assert service["spec"]["ports"][0]["targetPort"] == ports["openai"] == int(env["MODEL_SERVER_PORT"])
    assert config.llm_base_url == f"http://model-server:{service['spec']['ports'][0]['port']}/v1"
    assert config.text_provider == "openai" and config.llm_model == env["MODEL_SERVER_MODEL"]
    assert config.llm_parallel >= 1 and env["HOST"] == "0.0.0.0"
    assert {"secretRef": {"name": "persona-secrets"}} in container["envFrom"]
    assert {"generation-worker", "gateway"} <= set(deployments)  # production, plus the model
