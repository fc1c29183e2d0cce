"""`make fuzz`: schemathesis against a real stack, as a visitor and as a member.

Starts `python -m chassis.devstack` (embedded nats-server, every service, the gateway; canned
text, memory stores) on free ports in a temporary folder, signs in its dev user, and runs
schemathesis twice on the gateway's merged `/openapi.json`: without credentials, then with the
dev user's bearer token. A run fails on any 5xx, any response that breaks its schema, and any
status code the spec does not document. Examples per operation are bounded (`FUZZ_EXAMPLES`,
default 30) so both runs take a few minutes on two cores.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import httpx

from chassis.children import stop
from chassis.components import COMPONENTS
from chassis.devstack import free_port, free_range

REPO = Path(__file__).resolve().parents[1]
DEV_EMAIL = "fuzz@example.com"
DEV_PASSWORD = "fuzzing is caring"
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"
CONFIG = Path(__file__).with_name("fuzz.toml")
# Fuzzed as a visitor only: what would end the member's own session mid-run (every later request
# a 401), and the event stream, which a member's request holds open until the request timeout.
MEMBER_EXCLUDED = r"^(/auth/(logout|sessions(/\{session_id\})?)|/events)$"
CASES = re.compile(r"\d+ generated(, \d+ found \d+ unique failures?)?")
TESTED = re.compile(r"^\s*Tested: (\d+)")
READY = re.compile(r"ready: open (http://\S+)")


def start_stack(data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL", "LLM_BASE_URL")}
    env.update(
        TEXT_PROVIDER="offline",
        PORT=str(free_port()),
        NATS_PORT=str(free_port()),
        HEALTH_PORT_BASE=str(free_range(len(COMPONENTS))),
        DATA_DIR=str(data),
        DEV_USER_EMAIL=DEV_EMAIL,
        DEV_USER_PASSWORD=DEV_PASSWORD,
        # The starters give the fuzzer public personas, conversations and cards to read.
        SEED_STARTERS="true",
        LOG_LEVEL="warning",
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chassis.devstack"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"fuzz: the stack exited ({process.returncode}); see {log}")
        if m := READY.search(log.read_text(errors="replace")):
            return process, m.group(1).replace("localhost", "127.0.0.1")
        time.sleep(0.5)
    stop(process)
    raise SystemExit(f"fuzz: the stack was not ready in 180 s; see {log}")


def sign_in(base: str) -> str:
    """The dev user's access token (the account the stack seeds at start; it may take a moment)."""
    deadline = time.monotonic() + 60
    while True:
        r = httpx.post(f"{base}/auth/login", json={"email": DEV_EMAIL, "password": DEV_PASSWORD}, timeout=30)
        if r.status_code == 200:
            token: str = r.json()["data"]["access_token"]
            return token
        if time.monotonic() > deadline:
            raise SystemExit(f"fuzz: the dev user could not sign in: {r.status_code} {r.text}")
        time.sleep(1)


@dataclass
class Run:
    """What one schemathesis run did: operations tested, requests sent, what failed."""

    name: str
    exit_code: int
    operations: int
    # Failing operations and stateful scenarios, as the JUnit report counts them.
    failed_operations: int
    requests: int
    test_cases: str

    def line(self) -> str:
        return (
            f"fuzz: {self.name}: {self.operations} operations, {self.requests} requests,"
            f" {self.failed_operations} operations failing ({self.test_cases}); exit {self.exit_code}"
        )


def settle(base: str) -> None:
    """Wait (best effort) until every starter's avatar is processed: until then its card.png is a
    503 with Retry-After, as documented, but any 5xx fails a fuzzing run."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listed = httpx.get(f"{base}/personas", params={"limit": 100}, timeout=30).json().get("data", [])
        if listed and all(p["avatar_url"] for p in listed if p["avatar_media_id"]):
            return
        time.sleep(1)
    print("fuzz: the starters' avatars are still being processed; fuzzing anyway", flush=True)


def schemathesis(base: str, name: str, reports: Path, *extra: str) -> Run:
    junit, har = reports / f"{name}.xml", reports / f"{name}.har"
    argv = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        os.environ.get("FUZZ_EXAMPLES", "30"),
        "--seed",
        os.environ.get("FUZZ_SEED", "14"),
        "--workers",
        "2",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit,har",
        "--report-junit-path",
        str(junit),
        "--report-har-path",
        str(har),
        *extra,
    ]
    shown = [re.sub(r"Bearer \S+", "Bearer …", a) for a in argv[1:]]  # the token stays out of logs
    print(f"fuzz: {name}: {' '.join(shown)}", flush=True)
    cases, tested = "", 0
    # Its working folder holds schemathesis's own cache: the reports folder, not the repository.
    with subprocess.Popen(argv, cwd=reports, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if m := CASES.search(line):
                cases = m.group(0)
            if m := TESTED.search(line):
                tested = int(m.group(1))
    suite = ElementTree.parse(junit).getroot() if junit.exists() else None
    entries = json.loads(har.read_text())["log"]["entries"] if har.exists() else []
    return Run(
        name,
        process.returncode,
        tested,
        sum(int(suite.get(k, 0)) for k in ("failures", "errors")) if suite is not None else 0,
        len(entries),
        cases,
    )


def main() -> int:
    reports = Path(os.environ.get("FUZZ_REPORTS", REPO / ".data" / "fuzz")).resolve()
    reports.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        log = reports / "stack.log"
        process, base = start_stack(Path(tmp) / "data", log)
        try:
            # Signed in before the visitor's run, whose fuzzed logins hit the sign-in rate limit.
            token = sign_in(base)
            settle(base)
            runs = [
                schemathesis(base, "visitor", reports),
                schemathesis(
                    base,
                    "member",
                    reports,
                    "--header",
                    f"Authorization: Bearer {token}",
                    "--exclude-path-regex",
                    MEMBER_EXCLUDED,
                ),
            ]
        finally:
            stop(process)
    for run in runs:
        print(run.line(), flush=True)
    print(f"fuzz: reports (JUnit, HAR) and the stack's log in {reports}", flush=True)
    return 1 if any(run.exit_code for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
