"""Live status for the board and the agent's page, driven by the database.

One poller per process follows the event log by its increasing id (every writer holds the
write lock, so ids grow in commit order) and reads the agents whose entries it sees. So a
change made through any instance on the same database reaches every open board, not only
those of the instance that made it. Browsers get the changes as Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio

from ..storage.views import AgentView, Views
from ..storage.world import chunks

log = logging.getLogger("starface_connector.console")


@dataclass(frozen=True)
class Change:
    """What the poller saw in one round: agents as they are now, and logins now gone.

    ``reload`` tells a listener that fell behind to read the whole page again."""

    agents: tuple[AgentView, ...] = ()
    gone: tuple[str, ...] = ()
    reload: bool = False


@dataclass
class LiveFeed:
    views: Views
    interval: float = 0.2
    _subscribers: set[asyncio.Queue[Change]] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[asyncio.Queue[Change]]:
        """A queue of changes for as long as the caller listens."""
        queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=100)
        self._subscribers.add(queue)
        if self._task is None or self._task.done():
            start = await anyio.to_thread.run_sync(self.views.last_log_id)
            self._task = asyncio.create_task(self._poll(start), name="console-live-feed")
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
            if not self._subscribers and self._task is not None:
                self._task.cancel()
                self._task = None

    async def _poll(self, last: int) -> None:
        while self._subscribers:
            await asyncio.sleep(self.interval)
            try:
                last, logins = await anyio.to_thread.run_sync(self.views.touched_since, last)
                if not logins:
                    continue
                agents: list[AgentView] = []
                for part in chunks(sorted(logins)):
                    read = functools.partial(self.views.agents, logins=part)
                    agents.extend(await anyio.to_thread.run_sync(read))
            except Exception:  # the database may be away for a moment; keep following
                log.exception("live feed: reading the event log failed")
                continue
            change = Change(tuple(agents), tuple(sorted(logins - {a.login for a in agents})))
            for queue in list(self._subscribers):
                if queue.full():  # a browser that stopped reading: it starts afresh
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait(Change(reload=True))
                else:
                    queue.put_nowait(change)
