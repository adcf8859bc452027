"""Claims on ledger rows for one bot process: take a row before answering it, keep the
claims of rows in progress alive, let go when done (see ``bot.adapters.reddit.ledger``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from bot.adapters.reddit.ledger import CLAIM_S, Ledger, Row

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class Claims:
    """The rows this process is answering, claimed in the shared ledger."""

    def __init__(self, ledger: Ledger, lease_s: float = CLAIM_S):
        self.ledger, self.lease_s = ledger, lease_s
        self.held: set[str] = set()

    async def recover(self) -> None:
        """On start: free the claims of this host's processes that died."""
        freed = await asyncio.to_thread(self.ledger.release_dead)
        if freed:
            log.info("reddit: took back %d summons claimed by processes that are gone", freed)

    async def take(self, row: Row) -> Row | None:
        """Claim a due row; its fresh copy, or None if another process has it or it is done."""
        if row.fullname in self.held:
            return None
        fresh = await asyncio.to_thread(self.ledger.claim, row.fullname, _now(), self.lease_s)
        if fresh is not None:
            self.held.add(row.fullname)
        return fresh

    async def release(self, fullname: str) -> None:
        """Let the row go (finished, or waiting for a later try that any process may take)."""
        self.held.discard(fullname)
        await asyncio.to_thread(self.ledger.release, fullname)

    async def keep_alive(self) -> None:
        """Renew the held claims every quarter lease, until cancelled."""
        while True:
            await asyncio.sleep(self.lease_s / 4)
            held = list(self.held)
            try:
                kept = await asyncio.to_thread(self.ledger.renew, held, _now(), self.lease_s)
            except Exception:  # a database hiccup: the next round tries again
                log.warning("reddit: renewing %d claims failed", len(held), exc_info=True)
                continue
            if kept < len(held):
                log.warning("reddit: %d of %d claims were lost (this process stalled past "
                            "the lease); their rows stop at the next write",
                            len(held) - kept, len(held))
