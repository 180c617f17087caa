"""Which server answers which request when one run talks to several OpenAI-compatible servers.

Every request of an image goes to the same server, so that server's prefix and encoder
caches serve the image's other requests; a new image goes, once a server has room, to the
server with room and the fewest requests in flight or waiting for it (so a faster server
takes more images); each server has its own window of requests in flight, and the
requests of its images wait for room there. A
server that fails leaves the rotation (:meth:`ServerPool.mark_down`): requests waiting for
it, and those re-sent from it, pick another server. It comes back with
:meth:`ServerPool.mark_up` (the engine probes it after a cool-down). When no server is
left in rotation, :meth:`ServerPool.acquire` raises :class:`AllServersDown`.

Pure asyncio bookkeeping, no HTTP: the engine does the talking.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from vlmrate.engines.base import EngineUnavailable

#: Answers/s per server are counted over this many most recent seconds.
RATE_SPAN_S = 30.0


class AllServersDown(EngineUnavailable):
    """No server is left in rotation; the unanswered requests stay unanswered."""


@dataclass(eq=False)
class Server:
    """One server's place in the rotation and what it has done in this engine's life."""

    url: str
    window: int
    in_flight: int = 0
    waiting: int = 0  # requests of its images waiting for room in its window
    up: bool = True
    answered: int = 0
    times_down: int = 0
    down_reason: str | None = None
    started: float = field(default_factory=time.monotonic)
    recent: deque[float] = field(default_factory=deque)  # monotonic times of answers

    def answers_per_s(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self.recent and self.recent[0] < now - RATE_SPAN_S:
            self.recent.popleft()
        # at least one second, so that the first answers do not read as a burst
        span = max(1.0, min(RATE_SPAN_S, now - self.started))
        return len(self.recent) / span

    def stats(self) -> dict[str, Any]:
        """What a progress display shows of this server."""
        return {"url": self.url, "up": self.up, "in_flight": self.in_flight,
                "waiting": self.waiting,
                "answered": self.answered, "answers_per_s": self.answers_per_s(),
                "times_down": self.times_down, "down_reason": self.down_reason}


class ServerPool:
    """The servers of one engine, image affinity, and who is in rotation."""

    def __init__(self, urls: list[str], window: int) -> None:
        if not urls:
            raise ValueError("at least one server URL is needed")
        if len(set(urls)) != len(urls):
            raise ValueError("the same server URL is given twice")
        if window < 1:
            raise ValueError("the per-server window must be at least 1")
        self.servers = [Server(url, window) for url in urls]
        self._affinity: dict[str, Server] = {}
        self._changed = asyncio.Event()

    # -- queries ---------------------------------------------------------------------
    @property
    def all_down(self) -> bool:
        return not any(s.up for s in self.servers)

    def server_of(self, image_id: str) -> Server | None:
        return self._affinity.get(image_id)

    def stats(self) -> list[dict[str, Any]]:
        return [s.stats() for s in self.servers]

    def down_message(self) -> str:
        reasons = "; ".join(s.down_reason or f"{s.url}: down" for s in self.servers)
        return f"every server is down ({reasons})"

    # -- routing ---------------------------------------------------------------------
    async def acquire(self, image_id: str) -> Server:
        """A place in the window of the image's server (chosen now if it has none or its
        server is out of rotation); waits while that window is full."""
        server: Server | None = None  # the server this request is counted waiting for
        try:
            while True:
                if self.all_down:
                    raise AllServersDown(self.down_message())
                current = self._affinity.get(image_id)
                if current is None or not current.up:
                    current = self._least_busy()
                    if current is None:  # no room anywhere: wait, unassigned
                        if server is not None:
                            server.waiting -= 1
                            server = None
                        await self._changed.wait()
                        continue
                    self._affinity[image_id] = current
                if current is not server:
                    if server is not None:
                        server.waiting -= 1
                    server = current
                    server.waiting += 1
                if server.in_flight < server.window:
                    server.waiting -= 1
                    server.in_flight += 1
                    chosen, server = server, None
                    return chosen
                changed = self._changed
                await changed.wait()
        finally:
            if server is not None:
                server.waiting -= 1

    def _least_busy(self) -> Server | None:
        """The server in rotation with room and the fewest requests in flight or waiting
        for it (the first such server on a tie); None when every window is full."""
        free = [s for s in self.servers if s.up and s.in_flight < s.window]
        return min(free, key=lambda s: s.in_flight + s.waiting) if free else None

    def release(self, server: Server) -> None:
        server.in_flight -= 1
        self._notify()

    def forget(self, image_id: str) -> None:
        """The image's requests are all done: its next request (if any) is a new image."""
        self._affinity.pop(image_id, None)

    # -- health ----------------------------------------------------------------------
    def answered(self, server: Server) -> None:
        server.answered += 1
        server.recent.append(time.monotonic())

    def mark_down(self, server: Server, reason: str) -> bool:
        """Take the server out of rotation; True if it was in rotation until now."""
        if not server.up:
            return False
        server.up = False
        server.times_down += 1
        server.down_reason = reason
        self._notify()
        return True

    def mark_up(self, server: Server) -> None:
        server.up = True
        server.down_reason = None
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


def servers_line(stats: list[dict[str, Any]]) -> str:
    """One line for a progress display: answers/s of each server, and which are out.

    Empty for fewer than two servers unless the one server is out of rotation.
    """
    if not stats or (len(stats) == 1 and stats[0].get("up", True)):
        return ""
    parts = []
    for server in stats:
        where = urlsplit(str(server.get("url", ""))).netloc or str(server.get("url"))
        if server.get("up", True):
            parts.append(f"{where} {server.get('answers_per_s', 0.0):.1f}/s")
        else:
            reason = str(server.get("down_reason") or "down")
            if reason.startswith("cannot reach ") and ": " in reason:  # the URL is shown
                reason = reason.split(": ", 1)[1]
            parts.append(f"{where} OUT ({reason})")
    return "servers: " + " · ".join(parts)
