"""The one seam through which every network call of ``alerts/`` goes.

:class:`Transport` owns the single ``aiohttp`` session (with its timeout), builds the slack-sdk
clients on top of it with slack-sdk's own retry handlers switched off (retries are decided once,
in :mod:`alerts.retry`, and scheduled by the outbox relay), and turns every error into a
classified :class:`~alerts.retry.DeliveryFailure` whose text never contains a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from alerts.config import DEFAULT_HTTP_TIMEOUT_SECONDS
from alerts.retry import (
    DeliveryFailure,
    FailureKind,
    classify_exception,
    classify_http,
    classify_slack_error,
)

log = logging.getLogger(__name__)

# slack-sdk logs request URLs and bodies at DEBUG when its logger's own level allows it, and an
# incoming-webhook URL is a secret. Its clients get this logger, pinned above DEBUG.
_SDK_LOGGER = logging.getLogger(f"{__name__}.slack_sdk")
_SDK_LOGGER.setLevel(logging.WARNING)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A plain HTTP answer."""

    status: int
    headers: dict[str, str]
    body: Any


class Transport:
    """HTTP for the notifiers.

    Parameters
    ----------
    timeout_seconds
        Total time allowed for one request, connect to last byte.
    before_request
        Awaited before every request leaves. The worker passes a barrier that makes the delivery
        state written so far (an in-flight mark, say) durable first, so a crash right after a
        request cannot forget that the request was made.
    """

    def __init__(
        self,
        timeout_seconds: float = DEFAULT_HTTP_TIMEOUT_SECONDS,
        before_request: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.before_request = before_request
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The shared session (created on first use, inside the running event loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds)
            )
        return self._session

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def slack_client(self, token: str, base_url: str) -> AsyncWebClient:
        """A Web API client on the shared session, without slack-sdk's retries."""
        return AsyncWebClient(
            token=token,
            base_url=base_url,
            session=self.session(),
            retry_handlers=[],
            logger=_SDK_LOGGER,
            timeout=int(self.timeout_seconds) or 1,
        )

    def webhook_client(self, url: str) -> AsyncWebhookClient:
        """An incoming-webhook client on the shared session, without slack-sdk's retries."""
        return AsyncWebhookClient(
            url=url,
            session=self.session(),
            retry_handlers=[],
            logger=_SDK_LOGGER,
            timeout=int(self.timeout_seconds) or 1,
        )

    async def call(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        """Run one request; every failure comes out as a classified ``DeliveryFailure``.

        ``what`` names the call in failure reasons (for example ``slack chat.postMessage``).
        """
        if self.before_request is not None:
            try:
                await self.before_request()
            except Exception as exc:
                # Nothing has been sent, so a later attempt cannot duplicate anything.
                raise DeliveryFailure(
                    FailureKind.RETRYABLE,
                    f"{what}: delivery state not durable yet ({type(exc).__name__})",
                ) from exc
        try:
            return await request()
        except SlackApiError as exc:
            response = exc.response
            error = response.get("error") if isinstance(response.data, dict) else None
            headers = {k: str(v) for k, v in (response.headers or {}).items()}
            failure = classify_slack_error(response.status_code, error, headers)
        except DeliveryFailure:
            raise
        except Exception as exc:
            failure = classify_exception(exc)
        raise DeliveryFailure(
            failure.kind,
            f"{what}: {failure.reason}",
            status=failure.status,
            retry_after=failure.retry_after,
        )

    async def post_json(self, what: str, url: str, payload: dict[str, Any]) -> HttpReply:
        """POST ``payload`` as JSON; raises ``DeliveryFailure`` unless the answer is 2xx."""

        async def request() -> HttpReply:
            async with self.session().post(
                url,
                data=orjson.dumps(payload),
                headers={"Content-Type": "application/json"},
            ) as response:
                raw = await response.read()
                try:
                    body: Any = orjson.loads(raw) if raw else None
                except orjson.JSONDecodeError:
                    body = None
                return HttpReply(response.status, dict(response.headers), body)

        reply = await self.call(what, request)
        detail = ""
        if isinstance(reply.body, dict):
            detail = str(reply.body.get("message") or reply.body.get("status") or "")[:200]
        failure = classify_http(reply.status, reply.headers, detail)
        if failure is not None:
            raise DeliveryFailure(
                failure.kind,
                f"{what}: {failure.reason}",
                status=failure.status,
                retry_after=failure.retry_after,
            )
        return reply
