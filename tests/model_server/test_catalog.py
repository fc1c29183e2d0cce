"""A model split across wheels is joined once, checked by size and sha256, and reused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from model_server.catalog import MODELS, ModelMissing, PackagedModel, join, resolve


def parts(folder: Path, *chunks: bytes) -> list[Path]:
    paths = []
    for i, chunk in enumerate(chunks):
        path = folder / f"part{i:02d}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    return paths


def model(size: int, digest: str) -> PackagedModel:
    return PackagedModel("tiny", "tiny.gguf", (), size, digest, install="reinstall it")


def test_parts_are_joined_in_order_checked_and_reused(tmp_path: Path) -> None:
    chunks = (b"GGUF" + b"a" * 1000, b"b" * 700, b"c" * 3)
    whole = b"".join(chunks)
    packaged = model(len(whole), hashlib.sha256(whole).hexdigest())
    target = join(packaged, parts(tmp_path, *chunks), tmp_path / "models")
    assert target.read_bytes() == whole
    stamp = target.stat().st_mtime_ns
    # A second start trusts the verified file (size and mtime unchanged) and writes nothing.
    assert join(packaged, parts(tmp_path, *chunks), tmp_path / "models") == target
    assert target.stat().st_mtime_ns == stamp


def test_parts_that_do_not_add_up_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    chunks = (b"GGUF" + b"a" * 1000, b"b" * 700)
    packaged = model(1704, hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(ModelMissing, match="sha256") as refused:
        join(packaged, parts(tmp_path, *chunks), tmp_path / "models")
    assert "reinstall it" in str(refused.value.code)
    assert list((tmp_path / "models").iterdir()) == []


def test_an_unknown_model_name_lists_the_packaged_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match="qwen2.5-coder-1.5b-instruct"):
        resolve("no-such-model", tmp_path)


def test_the_small_test_model_is_installed_and_whole(tmp_path: Path) -> None:
    name, path = resolve("smollm2-135m-instruct", tmp_path)
    assert name == "smollm2-135m-instruct" and path.stat().st_size == MODELS[name].size
    assert path.read_bytes()[:4] == b"GGUF"
