"""API clients for end-to-end runs, behaving like careful real clients: every request's outcome is
recorded (to report how long clients saw errors during a fault), each request's time is bounded
(a hang shows up as a timeout), and a request whose outcome is unknown (no answer, 5xx, 409) is
looked up before it is sent again, so nothing is created twice by the client itself."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.sse import open_stream
from tests.support.users import User

# Longest any request may take before it counts as a hang (the gateway answers 504 well before).
REQUEST_BOUND = 20.0
# Longest a job may take to finish once accepted, faults included.
JOB_BOUND = 150.0


@dataclass
class Outcome:
    what: str
    started: float
    ended: float
    status: int | None  # None: no HTTP answer (see `error`)
    error: str = ""
    code: str = ""  # the error envelope's code, for answers >= 400

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 500

    @property
    def label(self) -> str:
        return str(self.status) if self.status is not None else self.error


@dataclass
class Recorder:
    outcomes: list[Outcome] = field(default_factory=list)

    def answered(self, start: float = 0.0, end: float = float("inf")) -> list[Outcome]:
        """Requests that ended in [start, end)."""
        return [o for o in self.outcomes if start <= o.ended < end]

    def failures(self, start: float = 0.0, end: float = float("inf")) -> list[Outcome]:
        return [o for o in self.answered(start, end) if o.failed]

    def slowest(self, start: float = 0.0, end: float = float("inf")) -> float:
        """The longest any request that ended in [start, end) took, answered or not."""
        return max((o.ended - o.started for o in self.answered(start, end)), default=0.0)

    def summary(self, start: float = 0.0, end: float = float("inf"), origin: float = 0.0) -> str:
        """First to last failed request of those that ended in [start, end), how long that is
        (from the first one's start to the last one's end), and which answers they got."""
        failed = self.failures(start, end)
        total = len(self.answered(start, end))
        if not failed:
            return f"no failed requests (of {total})"
        first = min(o.started for o in failed)
        last = max(o.ended for o in failed)
        labels = Counter(f"{o.label}{f' {o.code}' if o.code else ''}" for o in failed)
        kinds = ", ".join(f"{n} × {label}" for label, n in labels.most_common())
        return (
            f"{len(failed)} of {total} requests failed, from t={first - origin:+.1f}s to "
            f"t={last - origin:+.1f}s ({last - first:.1f}s): {kinds}"
        )


class Api:
    """The gateway's public API for many users at once, every request recorded."""

    def __init__(self, base_url: str, recorder: Recorder, bound: float = REQUEST_BOUND) -> None:
        self.recorder = recorder
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=bound,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def call(
        self, method: str, path: str, user: User | None, what: str, **kwargs: Any
    ) -> httpx.Response | None:
        """The response, or None when none came (connection error or over the time bound)."""
        started = time.monotonic()
        headers = user.headers if user is not None else {}
        try:
            r = await self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            self.recorder.outcomes.append(Outcome(what, started, time.monotonic(), None, type(exc).__name__))
            return None
        code = ""
        if r.status_code >= 400:
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                code = str(r.json()["error"]["code"])
            code = code or "no-envelope"
        self.recorder.outcomes.append(Outcome(what, started, time.monotonic(), r.status_code, "", code))
        return r

    async def must(
        self, method: str, path: str, user: User | None, what: str, expect: int = 200, **kwargs: Any
    ) -> Any:
        """A request that is retried until it answers `expect` (errors of a fault are recorded);
        returns the body's `data`."""
        deadline = time.monotonic() + JOB_BOUND
        while True:
            r = await self.call(method, path, user, what, **kwargs)
            if r is not None and r.status_code == expect:
                return r.json().get("data") if r.content else None
            if r is not None and r.status_code < 500:
                raise AssertionError(f"{method} {path} → {r.status_code}: {r.text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path} kept failing")
            await asyncio.sleep(0.5)

    async def pages(self, path: str, user: User, what: str, **params: str) -> list[Any]:
        """Every item of a paginated listing."""
        items: list[Any] = []
        cursor: str | None = None
        while True:
            query = {**params, "limit": "100", **({"cursor": cursor} if cursor else {})}
            deadline = time.monotonic() + JOB_BOUND
            while True:
                r = await self.call("GET", path, user, what, params=query)
                if r is not None and r.status_code == 200:
                    break
                if (r is not None and r.status_code < 500) or time.monotonic() > deadline:
                    raise AssertionError(f"GET {path} failed: {r.text if r is not None else 'no answer'}")
                await asyncio.sleep(0.5)
            body = r.json()
            items += body["data"]
            cursor = body["meta"].get("next_cursor")
            if not cursor:
                return items


class Follower:
    """One user's SSE stream, open for the whole run: reconnects after every end or error with
    `Last-Event-ID` (the last id seen), and remembers what it received."""

    def __init__(self, base_url: str, user: User) -> None:
        self.base_url = base_url
        self.user = user
        self.last_id: int | None = None
        self.ids: set[int] = set()
        self.repeated: list[int] = []
        self.done: dict[str, asyncio.Event] = {}
        self.media_ready: dict[str, asyncio.Event] = {}
        self.resyncs: list[Any] = []
        self.opened = 0
        self.refused: Counter[str] = Counter()
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _event(self, table: dict[str, asyncio.Event], key: str) -> asyncio.Event:
        return table.setdefault(key, asyncio.Event())

    def chat_done(self, job_id: str) -> asyncio.Event:
        return self._event(self.done, job_id)

    def ready(self, media_id: str) -> asyncio.Event:
        return self._event(self.media_ready, media_id)

    def received_done(self) -> set[str]:
        return {job for job, e in self.done.items() if e.is_set()}

    def received_ready(self) -> set[str]:
        return {media for media, e in self.media_ready.items() if e.is_set()}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        # Heartbeats (SSE_HEARTBEAT) arrive well within the read timeout on a live stream.
        async with httpx.AsyncClient(base_url=self.base_url, timeout=httpx.Timeout(30.0)) as http:
            while True:
                headers = dict(self.user.headers)
                if self.last_id is not None:
                    headers["last-event-id"] = str(self.last_id)
                try:
                    async with open_stream(http, headers=headers) as stream:
                        self.opened += 1
                        self.connected.set()
                        while True:
                            with contextlib.suppress(TimeoutError):
                                self._take(await stream.next(timeout=60.0))
                except (AssertionError, EOFError, httpx.HTTPError) as exc:
                    self.refused[type(exc).__name__] += 1
                await asyncio.sleep(0.3)

    def _take(self, event: Any) -> None:
        if event.event == "resync":
            self.resyncs.append(event.data)
            return
        if event.id is not None:
            if event.id in self.ids:
                self.repeated.append(event.id)
            self.ids.add(event.id)
            self.last_id = event.id
        if event.event == "ai_chat_done":
            self.chat_done(event.data["job_id"]).set()
        elif event.event == "media_ready":
            self.ready(event.data["media_id"]).set()


@dataclass
class Turn:
    user: User
    conversation_id: str
    job_id: str
    reply_message_id: str
    accepted_at: float = field(default_factory=time.monotonic)


class Chats:
    """Chat turns sent like a careful client: a turn whose outcome is unknown is looked up in
    the conversation before it is sent again (with a new text, so attempts are told apart)."""

    def __init__(self, api: Api, followers: dict[str, Follower]) -> None:
        self.api = api
        self.followers = followers
        self.accepted: list[Turn] = []
        # Turns refused after they were stored ("could not queue the job": the reply is marked
        # failed at once and the client is told 503); their texts, to recognise them later.
        self.refused: set[str] = set()

    async def conversation(self, user: User, persona_id: str) -> str:
        data = await self.api.must("POST", f"/personas/{persona_id}/conversations", user, "start", expect=201)
        return str(data["conversation"]["id"])

    async def converse(self, user: User, conversation_id: str, turns: int) -> None:
        for n in range(turns):
            turn = await self.send(user, conversation_id, n)
            self.accepted.append(turn)
            await self.wait_done(turn)

    async def send(self, user: User, conversation_id: str, n: int) -> Turn:
        texts: list[str] = []
        deadline = time.monotonic() + JOB_BOUND
        while time.monotonic() < deadline:
            text = f"Turn {n} (attempt {len(texts)}) in {conversation_id[:8]}: what do you make of the sea?"
            texts.append(text)
            r = await self.api.call(
                "POST", f"/conversations/{conversation_id}/messages", user, "send", json={"content": text}
            )
            if r is not None and r.status_code == 202:
                data = r.json()["data"]
                return Turn(user, conversation_id, data["job_id"], data["reply_message_id"])
            if r is not None and r.status_code < 500 and r.status_code != 409:
                raise AssertionError(f"sending a message → {r.status_code}: {r.text}")
            # The turn may be stored although the answer was lost: look before sending again.
            await asyncio.sleep(0.5)
            found = await self.lookup(user, conversation_id, texts)
            if found is not None:
                return found
        raise AssertionError(f"could not send turn {n} in {conversation_id}")

    async def lookup(self, user: User, conversation_id: str, texts: list[str]) -> Turn | None:
        messages = await self.messages(user, conversation_id)
        for mine, reply in zip(messages, messages[1:], strict=False):
            if mine["role"] != "user" or mine["content"] not in texts:
                continue
            if reply["status"] == "failed" and reply["error"] == "could not queue the job":
                self.refused.add(mine["content"])
                continue
            return Turn(user, conversation_id, reply["job_id"], reply["id"])
        return None

    async def messages(self, user: User, conversation_id: str) -> list[dict[str, Any]]:
        items = await self.api.pages(f"/conversations/{conversation_id}/messages", user, "messages")
        return sorted(items, key=lambda m: int(m["seq"]))

    async def wait_done(self, turn: Turn) -> None:
        """Until the reply is written: its `ai_chat_done` arrives, or (checked every few seconds,
        in case the stream is reconnecting) the conversation has no pending reply any more."""
        done = self.followers[turn.user.id].chat_done(turn.job_id)
        deadline = time.monotonic() + JOB_BOUND
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 3.0)
                return
            path = f"/conversations/{turn.conversation_id}"
            r = await self.api.call("GET", path, turn.user, "poll")
            if r is not None and r.status_code == 200 and r.json()["data"]["pending_job_id"] != turn.job_id:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"chat job {turn.job_id} did not finish")


@dataclass
class Generated:
    user: User
    job_id: str
    media_id: str
    prompt: str


class Images:
    """Image generations sent like a careful client (looked up before sending again)."""

    def __init__(self, api: Api, followers: dict[str, Follower]) -> None:
        self.api = api
        self.followers = followers
        self.accepted: list[Generated] = []

    async def generate(self, user: User, persona_id: str, n: int, kind: str = "image") -> Generated:
        prompts: list[str] = []
        deadline = time.monotonic() + JOB_BOUND
        while time.monotonic() < deadline:
            prompt = f"{kind} {n} (attempt {len(prompts)}): a neon sea under a violet sky at night"
            prompts.append(prompt)
            body = {"persona_id": persona_id, "kind": kind, "prompt": prompt}
            r = await self.api.call("POST", "/media/generations", user, "generate", json=body)
            if r is not None and r.status_code == 202:
                data = r.json()["data"]
                made = Generated(user, data["job_id"], data["media_id"], prompt)
                self.accepted.append(made)
                return made
            if r is not None and r.status_code == 429:
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                continue
            if r is not None and r.status_code < 500:
                raise AssertionError(f"generating → {r.status_code}: {r.text}")
            await asyncio.sleep(0.5)
            mine = await self.api.pages("/media", user, "media list", persona_id=persona_id)
            for item in mine:
                if item["owner_id"] == user.id and item["prompt"] in prompts:
                    made = Generated(user, item["job_id"], item["id"], item["prompt"])
                    self.accepted.append(made)
                    return made
        raise AssertionError(f"could not start {kind} generation {n}")

    async def wait_ready(self, made: Generated) -> dict[str, Any]:
        ready = self.followers[made.user.id].ready(made.media_id)
        deadline = time.monotonic() + JOB_BOUND
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 2.0)
            r = await self.api.call("GET", f"/media/{made.media_id}", made.user, "poll media")
            if r is not None and r.status_code == 200 and r.json()["data"]["status"] != "processing":
                item: dict[str, Any] = r.json()["data"]
                return item
            if time.monotonic() > deadline:
                raise AssertionError(f"media job {made.job_id} did not finish")
            await asyncio.sleep(0.5)
