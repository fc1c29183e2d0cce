"""Enough of `kubectl kustomize` to render our overlays when kubectl is absent:
resources (files and directories), namespace, images, labels, strategic-merge
patches by kind and name (containers merged by name) and configMapGenerator merges."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]


def _load_docs(path: Path) -> list[Resource]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(x, dict) and "name" in x for x in base + patch)
    ):
        out_list = [copy.deepcopy(x) for x in base]
        for item in patch:
            for i, existing in enumerate(out_list):
                if existing["name"] == item["name"]:
                    out_list[i] = _merge(existing, item)
                    break
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _key(r: Resource) -> tuple[str, str]:
    return r["kind"], r["metadata"]["name"]


def render(directory: Path) -> list[Resource]:
    k = yaml.safe_load((directory / "kustomization.yaml").read_text())
    resources: list[Resource] = []
    for entry in k.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            resources += render(target)
        elif target.is_file():
            resources += _load_docs(target)
        else:
            raise FileNotFoundError(f"{directory}: resource {entry} does not exist")
    by_key = {_key(r): r for r in resources}
    for patch in k.get("patches", []):
        for doc in _load_docs(directory / patch["path"]):
            key = _key(doc)
            if key not in by_key:
                raise KeyError(f"{directory}: patch targets missing {key}")
            by_key[key].update(_merge(by_key[key], doc))
    for gen in k.get("configMapGenerator", []):
        key = ("ConfigMap", gen["name"])
        data = dict(line.split("=", 1) for line in gen.get("literals", []))
        if gen.get("behavior") == "merge":
            if key not in by_key:
                raise KeyError(f"{directory}: configMapGenerator merges into missing {key}")
            by_key[key].setdefault("data", {}).update(data)
        else:
            resources.append(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}
            )
    for img in k.get("images", []):
        for r in resources:
            for c in _containers(r):
                name, _, _ = c["image"].partition(":")
                if name == img["name"]:
                    c["image"] = f"{img.get('newName', name)}:{img.get('newTag', 'latest')}"
    for group in k.get("labels", []):
        for r in resources:
            r["metadata"].setdefault("labels", {}).update(group["pairs"])
    if "namespace" in k:
        for r in resources:
            if r["kind"] != "Namespace":
                r["metadata"]["namespace"] = k["namespace"]
    return resources


def _containers(r: Resource) -> list[dict[str, Any]]:
    if r["kind"] != "Deployment":
        return []
    containers: list[dict[str, Any]] = r["spec"]["template"]["spec"]["containers"]
    return containers
