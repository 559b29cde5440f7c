"""The calls the Stripchat source makes to the site (through its API client and budget).

Each call returns what the site said, parsed by ``_stripchat_site``; transport failures,
429, 418 and 5xx come back as an :class:`Answer`, never as an exception, so one bad channel
cannot sink a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote, urlencode

from servicekit.errors import DomainError

from ..site_client import SiteClient, SiteResponse
from ..status import Availability
from ._stripchat_site import (
    Answer,
    CamInfo,
    Renamed,
    bulk_models,
    http_answer,
    model_id,
    parse_cam,
    parse_page,
)

__all__ = ["StripchatApi"]


class StripchatApi:
    """Requests to ``base_url`` (and ``ids_base_url`` for username -> id)."""

    def __init__(
        self,
        site: SiteClient,
        *,
        base_url: str,
        ids_base_url: str,
        image_base_url: str = "",
        headers: Mapping[str, str],
    ) -> None:
        self._site = site
        self._base = base_url.rstrip("/")
        self._ids_base = ids_base_url.rstrip("/")
        self._headers = dict(headers)
        self._image_base = image_base_url

    async def cam(self, username: str) -> CamInfo | Renamed | Answer:
        """``GET /api/front/v2/models/username/<u>/cam``."""
        url = f"{self._base}/api/front/v2/models/username/{quote(username)}/cam"
        response = await self._get(url, "application/json")
        if isinstance(response, Answer):
            return response
        early = http_answer(response.status, response.retry_after, "cam")
        if early is not None:
            return early
        try:
            body = response.json()
        except ValueError:
            return Answer(Availability.UPSTREAM_ERROR, "cam: not JSON", "NOT_JSON")
        return parse_cam(response.status, body, self._image_base)

    async def page(self, username: str) -> CamInfo | Answer:
        """``GET /<u>``: the profile page's preloaded state."""
        response = await self._get(f"{self._base}/{quote(username)}", "text/html")
        if isinstance(response, Answer):
            return response
        if response.status == 404:
            return Answer(Availability.NOT_FOUND, "page: no such model")
        early = http_answer(response.status, response.retry_after, "page")
        if early is not None:
            return early
        info = parse_page(response.text)
        if info is None:
            return Answer(
                Availability.UPSTREAM_ERROR, "page: no model in the page", "NO_PRELOADED_STATE"
            )
        return info

    async def user_id(self, username: str) -> int | Answer:
        """``GET <ids base>/api/front/users/user-ids/<u>`` -> the model's id."""
        url = f"{self._ids_base}/api/front/users/user-ids/{quote(username)}"
        response = await self._get(url, "application/json")
        if isinstance(response, Answer):
            return response
        if response.status == 404:
            return Answer(Availability.NOT_FOUND, "user-ids: no such user")
        early = http_answer(response.status, response.retry_after, "user-ids")
        if early is not None:
            return early
        try:
            body = response.json()
        except ValueError:
            body = None
        ident = model_id(body.get("id")) if isinstance(body, dict) else None
        if ident is None:
            return Answer(Availability.UPSTREAM_ERROR, "user-ids: no id", "BAD_ANSWER")
        return ident

    async def bulk(self, ids: Sequence[int]) -> dict[int, CamInfo] | Answer:
        """``GET /api/front/models/list?modelIds[]=...`` (the caller keeps to 100 ids)."""
        query = urlencode([("modelIds[]", str(i)) for i in ids])
        response = await self._get(
            f"{self._base}/api/front/models/list?{query}", "application/json"
        )
        if isinstance(response, Answer):
            return response
        if response.status == 404:
            return Answer(Availability.UPSTREAM_ERROR, "bulk: HTTP 404", "UPSTREAM_HTTP_404")
        early = http_answer(response.status, response.retry_after, "bulk")
        if early is not None:
            return early
        try:
            models = bulk_models(response.json())
        except ValueError:
            models = None
        if models is None:
            return Answer(Availability.UPSTREAM_ERROR, "bulk: not a model list", "NOT_JSON")
        return models

    async def _get(self, url: str, accept: str) -> SiteResponse | Answer:
        try:
            return await self._site.request("GET", url, headers={**self._headers, "Accept": accept})
        except DomainError as exc:
            if exc.reason == "RATE_LIMITED":
                retry = exc.metadata.get("retry_after_seconds", "")
                return Answer(
                    Availability.RATE_LIMITED,
                    exc.message,
                    "RATE_LIMITED",
                    float(retry) if retry else None,
                )
            return Answer(Availability.UPSTREAM_ERROR, exc.message, exc.reason)
