"""`make image`: build the container image with buildah, with or without a registry.

Without `BASE`, the base is a Debian root file system made here by debootstrap (minbase and the
packages in `BASE_PACKAGES`) from the Debian mirror apt already uses, imported once as a local
image and reused while its recipe is unchanged; with `BASE=docker.io/library/python:3.11-slim` (or
any image with python3 and its venv module) that one is used. Then `buildah bud --isolation
chroot` builds deploy/Containerfile as `persona-community:dev`, its layers cached. Missing tools
(buildah, podman, debootstrap) are installed with apt-get when running as root. pip in the build
reaches the index this machine uses: its http(s) index settings and CA bundle go in as build
secrets, mounted for the install step only.
"""

from __future__ import annotations

import configparser
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONTAINERFILE = REPO / "deploy" / "Containerfile"
IMAGE = "persona-community:dev"
SUITE = "bookworm"  # Debian 12: python3 is 3.11, the project's oldest
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_REPOSITORY = "localhost/persona-community-base"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TOOLS = {"buildah": "buildah", "podman": "podman", "debootstrap": "debootstrap"}
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "persona-community"
PIP_SETTINGS = ("index-url", "extra-index-url", "trusted-host")
# What debootstrap mounts inside the new root while it configures packages.
ROOT_MOUNTS = ("proc", "sys", "dev/pts")
CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


class Unavailable(RuntimeError):
    """This machine cannot build the image (no buildah and no way to install it)."""


def say(message: str) -> None:
    print(f"build_image | {message}", flush=True)


@contextmanager
def timed(step: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    say(f"{step}: {time.monotonic() - started:.1f}s")


def missing_tools(need_base: bool) -> list[str]:
    wanted = ["buildah", *(["podman", "debootstrap"] if need_base else [])]
    return [tool for tool in wanted if shutil.which(tool) is None]


def ensure_tools(need_base: bool = True) -> None:
    """Install what is missing with apt-get (root only), or say why the image cannot be built."""
    missing = missing_tools(need_base)
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise Unavailable(f"{', '.join(missing)} missing and no apt-get to install them")
    if os.geteuid() != 0:
        raise Unavailable(f"{', '.join(missing)} missing; installing them needs root")
    with timed(f"apt-get install {' '.join(missing)}"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, text=True, capture_output=True)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", *(TOOLS[t] for t in missing)],
                env=env,
                check=True,
                text=True,
                capture_output=True,
            )
        except subprocess.CalledProcessError as exc:
            raise Unavailable(f"apt-get could not install {', '.join(missing)}: {exc.stderr[-500:]}") from exc
    if still := missing_tools(need_base):
        raise Unavailable(f"{', '.join(still)} still missing after apt-get install")


def debian_mirror() -> str:
    """The Debian archive apt uses here (deb822 or one-line sources), so debootstrap reaches it."""
    if mirror := os.environ.get("DEBIAN_MIRROR"):
        return mirror
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split("#", 1)[0].split()
            urls = words[1:] if words[:1] == ["URIs:"] else words[1:2] if words[:1] == ["deb"] else []
            for url in urls:
                if url.rstrip("/").endswith("/debian"):
                    return url.rstrip("/")
    return DEFAULT_MIRROR


def base_tag(mirror: str) -> str:
    """Names the base by its recipe: a change of packages or suite builds a new one."""
    recipe = "\n".join([SUITE, "minbase", *BASE_PACKAGES])
    return f"{BASE_REPOSITORY}:{SUITE}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def image_id(name: str) -> str | None:
    found = subprocess.run(
        ["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", name],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        return None
    return found.stdout.strip() or None


def unmount(root: Path) -> bool:
    """Undo debootstrap's mounts under `root`; whether none is left."""
    for mount in ROOT_MOUNTS:
        if os.path.ismount(root / mount):
            subprocess.run(["umount", "-l", str(root / mount)], capture_output=True)
    return not any(os.path.ismount(root / mount) for mount in ROOT_MOUNTS)


@contextmanager
def base_lock() -> Iterator[None]:
    """One base build at a time on this machine; the holder clears what a killed one left."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "base.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in CACHE.glob("rootfs-*"):
            if unmount(stale / "root"):
                shutil.rmtree(stale, ignore_errors=True)
        yield


def build_base() -> str:
    """The local Debian base image, made by debootstrap unless already there."""
    mirror = debian_mirror()
    tag = base_tag(mirror)
    with base_lock():
        if image_id(tag):
            say(f"base {tag}: reused")
            return tag
        return debootstrap_base(mirror, tag)


def debootstrap_base(mirror: str, tag: str) -> str:
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=CACHE) as work:
        root = Path(work) / "root"
        with timed(f"debootstrap {SUITE} from {mirror}"):
            argv = [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                f"--cache-dir={debs}",
                SUITE,
                str(root),
                mirror,
            ]
            try:
                subprocess.run(argv, check=True, text=True, capture_output=True)
            except subprocess.CalledProcessError as exc:
                raise SystemExit(f"debootstrap failed:\n{exc.stdout[-2000:]}{exc.stderr[-2000:]}") from exc
            finally:
                unmount(root)  # a failed debootstrap can leave its mounts
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        with timed(f"import {tag}"):
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            try:
                subprocess.run(
                    ["podman", "import", "--quiet", "-", tag],
                    stdin=tar.stdout,
                    stdout=subprocess.DEVNULL,
                    check=True,
                )
            finally:
                assert tar.stdout is not None
                tar.stdout.close()
                tar.wait()
    return tag


def pip_secrets(work: Path) -> list[str]:
    """`--secret` arguments carrying this machine's pip index settings and CA bundle, if any.

    Only http(s) indexes travel (a file:// index is not in the build); the bundle is passed as a
    file and named in the generated pip.conf, so the build trusts what pip trusts here."""
    settings: dict[str, str] = {}
    config = configparser.ConfigParser(interpolation=None)
    files = ["/etc/pip.conf", "/etc/xdg/pip/pip.conf", str(Path.home() / ".config/pip/pip.conf")]
    config.read([*files, *([os.environ["PIP_CONFIG_FILE"]] if os.environ.get("PIP_CONFIG_FILE") else [])])
    for key in (*PIP_SETTINGS, "cert"):
        for section in ("global", "install"):
            if config.has_option(section, key):
                settings[key] = config.get(section, key)
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env:
            settings[key] = env
    lines = ["[global]"]
    for key in PIP_SETTINGS:
        values = [v for v in settings.get(key, "").split() if key == "trusted-host" or v.startswith("http")]
        if values:
            lines.append(f"{key} = {' '.join(values)}")
    args: list[str] = []
    bundle = settings.get("cert") or os.environ.get("SSL_CERT_FILE")
    bundle = bundle or next((b for b in CA_BUNDLES if Path(b).is_file()), None)
    if bundle and Path(bundle).is_file():
        args += ["--secret", f"id=pipca,src={bundle}"]
        lines.append("cert = /run/secrets/pipca")
    pip_conf = work / "pip.conf"
    pip_conf.write_text("\n".join(lines) + "\n")
    pip_conf.chmod(0o600)
    return [*args, "--secret", f"id=pipconf,src={pip_conf}"]


def build(base: str | None = None, tag: str = IMAGE, extras: str = "") -> str:
    """Build the image and return its tag; idempotent (cached base and layers)."""
    started = time.monotonic()
    ensure_tools(need_base=base is None)
    base = base or build_base()
    before = image_id(tag)
    with tempfile.TemporaryDirectory(prefix="persona-image-") as work:
        argv = [
            "buildah",
            "bud",
            "--isolation",
            "chroot",
            "--layers",
            "--force-rm",  # a failed step leaves no working container behind
            "--build-arg",
            f"BASE={base}",
            "--build-arg",
            f"EXTRAS={extras}",
            *pip_secrets(Path(work)),
            "-t",
            tag,
            "-f",
            str(CONTAINERFILE),
            str(REPO),
        ]
        with timed(f"buildah bud {tag} on {base}"):
            subprocess.run(argv, check=True)
    if before and before != image_id(tag):
        # The image the tag named before is untagged now: drop it (its layers are hundreds of MB);
        # the cached build steps stay.
        subprocess.run(["buildah", "rmi", before], capture_output=True)
    say(f"{tag} built in {time.monotonic() - started:.1f}s")
    return tag


def main() -> None:
    try:
        build(os.environ.get("BASE") or None, os.environ.get("IMAGE", IMAGE), os.environ.get("EXTRAS", ""))
    except Unavailable as exc:
        raise SystemExit(f"build_image | cannot build here: {exc}") from exc
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"build_image | {exc}") from exc


if __name__ == "__main__":
    main()
