"""The image installs the project as a wheel (deploy/Containerfile): the wheel must carry every
module and the data files components read at run time (migrations, the docs page)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from chassis.components import COMPONENTS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "proto",
    "chassis",
    "gateway",
    "auth_svc",
    "persona_svc",
    "media_svc",
    "generation_worker",
    "model_server",
)


def test_wheel_carries_every_module_and_data_file(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for pattern in ("**/*.py", "**/*.sql", "**/*.html", "**/*.toml", "**/*.webp")
        for path in (ROOT / package).glob(pattern)
        if "__pycache__" not in path.parts
    }
    assert expected - inside == set()
    for component in COMPONENTS:
        assert f"{component.module}/__main__.py" in inside
