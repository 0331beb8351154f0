"""Local HTTP servers that speak enough of the Slack Web API and PagerDuty Events API v2.

Both record every request and answer from a script of :class:`Reply` objects (then ``200``/``202``
when the script is empty), so tests can stage 429s with ``Retry-After``, 500s, 400s, slow answers
and outages against the real slack-sdk and aiohttp clients::

    async with FakeSlack(token="xoxb-test") as slack:
        slack.script.append(Reply(status=429, retry_after=1))
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)

An outage can also be driven by a predicate (``slack.down = lambda: clock.now() < t_end``) that
answers 503 while it holds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP status, a Slack ``error`` code, a delay."""

    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    # Process the request (record, create the message) even though the answer is a failure or
    # comes too late; models a server that did the work but whose answer was lost.
    process: bool = False


@dataclass
class Recorded:
    """A request the server received."""

    path: str
    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    raw: bytes
    answered: int = 0


@dataclass
class SlackMessage:
    """A message as the fake channel keeps it."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    thread_ts: str | None = None
    updates: int = 0
    history: list[str] = field(default_factory=list)


class _FakeServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[Reply] = deque()
        self.down: Callable[[], bool] | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> None:
        # Do not wait for held answers (slow replies) when a test is over.
        self._runner = web.AppRunner(self.app(), shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> _FakeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _next_reply(self) -> Reply | None:
        if self.down is not None and self.down():
            return Reply(status=503)
        return self.script.popleft() if self.script else None

    @staticmethod
    async def _body(request: web.Request) -> tuple[dict[str, Any], bytes]:
        raw = await request.read()
        body: dict[str, Any] = dict(request.query)
        if raw:
            if request.content_type == "application/json":
                body.update(orjson.loads(raw))
            else:
                body.update(dict(await request.post()))
        return body, raw


class FakeSlack(_FakeServer):
    """``chat.postMessage``, ``chat.update``, ``conversations.history`` / ``.replies``."""

    def __init__(self, token: str = "xoxb-fake-token") -> None:
        super().__init__()
        self.token = token
        self.messages: dict[str, SlackMessage] = {}
        # Message timestamps follow this clock (tests on a manual clock set it to theirs).
        self.now: Callable[[], float] = time.time
        self._last_ts = 0.0

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        return app

    def posts(self, top_level_only: bool = True) -> list[SlackMessage]:
        """Messages created, in order (top-level unless told otherwise)."""
        return [m for m in self.messages.values() if not top_level_only or m.thread_ts is None]

    def replies(self, ts: str) -> list[SlackMessage]:
        return [m for m in self.messages.values() if m.thread_ts == ts]

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == method and r.answered == 200]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        body, raw = await self._body(request)
        recorded = Recorded(method, request.method, body, dict(request.headers), raw)
        self.requests.append(recorded)
        reply = self._next_reply()
        # A "process" reply does the work at once, whatever it answers and however late.
        processed = self._apply(method, body) if reply is not None and reply.process else None
        if reply is not None and reply.delay:
            await asyncio.sleep(reply.delay)
        if reply is not None and reply.status is not None and reply.status != 200:
            headers = {}
            if reply.retry_after is not None:
                headers["Retry-After"] = str(int(reply.retry_after))
            recorded.answered = reply.status
            return web.json_response(
                {"ok": False, "error": "ratelimited" if reply.status == 429 else "server_error"},
                status=reply.status,
                headers=headers,
            )
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            recorded.answered = 200
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if reply is not None and reply.error is not None:
            recorded.answered = 200
            return web.json_response({"ok": False, "error": reply.error})
        result = processed if processed is not None else self._apply(method, body)
        recorded.answered = 200
        return web.json_response(result)

    def _apply(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            self._last_ts = max(self.now(), self._last_ts + 0.0001)
            ts = f"{self._last_ts:.6f}"
            channel = str(body["channel"])
            channel_id = channel if not channel.startswith("#") else f"C{channel[1:].upper()}"
            blocks = body.get("blocks") or []
            if isinstance(blocks, str):
                blocks = orjson.loads(blocks)
            metadata = body.get("metadata")
            if isinstance(metadata, str):
                metadata = orjson.loads(metadata)
            self.messages[ts] = SlackMessage(
                channel_id, ts, str(body.get("text", "")), blocks, metadata, body.get("thread_ts")
            )
            return {
                "ok": True,
                "channel": channel_id,
                "ts": ts,
                "message": {"text": body.get("text")},
            }
        if method == "chat.update":
            message = self.messages.get(str(body.get("ts")))
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.history.append(message.text)
            message.text = str(body.get("text", ""))
            blocks = body.get("blocks") or []
            message.blocks = orjson.loads(blocks) if isinstance(blocks, str) else blocks
            message.updates += 1
            return {"ok": True, "channel": message.channel, "ts": message.ts}
        if method in ("conversations.history", "conversations.replies"):
            oldest = float(body.get("oldest", 0) or 0)
            thread = body.get("ts") if method == "conversations.replies" else None
            found = [
                {"ts": m.ts, "text": m.text, "metadata": m.metadata, "thread_ts": m.thread_ts}
                for m in self.messages.values()
                if float(m.ts) >= oldest
                and (m.thread_ts == thread if thread else m.thread_ts is None)
            ]
            return {"ok": True, "channel": body.get("channel"), "messages": found[::-1]}
        return {"ok": False, "error": "unknown_method"}


class FakePagerDuty(_FakeServer):
    """``POST /v2/enqueue`` of the Events API v2."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    @property
    def events_url(self) -> str:
        return f"{self.base}/v2/enqueue"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._handle)
        return app

    def actions(self, dedup_key: str | None = None) -> list[str]:
        """The accepted event actions (of one dedup key), in order."""
        return [
            e["event_action"]
            for e in self.events
            if dedup_key is None or e.get("dedup_key") == dedup_key
        ]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body, raw = await self._body(request)
        recorded = Recorded("enqueue", request.method, body, dict(request.headers), raw)
        self.requests.append(recorded)
        reply = self._next_reply()
        if reply is not None and reply.delay:
            await asyncio.sleep(reply.delay)
        if reply is not None and reply.status is not None and reply.status != 202:
            if reply.process:
                self.events.append(body)
            headers = {}
            if reply.retry_after is not None:
                headers["Retry-After"] = str(int(reply.retry_after))
            recorded.answered = reply.status
            status = "invalid event" if reply.status == 400 else "throttled"
            return web.json_response(
                {"status": status, "message": "scripted failure", "errors": [status]},
                status=reply.status,
                headers=headers,
            )
        problems = [
            name for name in ("routing_key", "event_action", "dedup_key") if not body.get(name)
        ]
        if body.get("event_action") == "trigger":
            payload = body.get("payload") or {}
            problems += [
                f"payload.{name}"
                for name in ("summary", "source", "severity")
                if not payload.get(name)
            ]
            if len(str(payload.get("summary", ""))) > 1024:
                problems.append("payload.summary too long")
        if problems:
            recorded.answered = 400
            return web.json_response(
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": problems,
                },
                status=400,
            )
        self.events.append(body)
        recorded.answered = 202
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]},
            status=202,
        )
