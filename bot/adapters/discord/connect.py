"""Connecting to Discord: retry with backoff while it cannot be reached, one line per try.

discord.py retries lost connections itself, but a *first* connection that fails crashes
inside it (``AttributeError: 'NoneType' object has no attribute 'sequence'``, since it tries
to resume a session it never had), and it logs every retry with a full traceback. So the
adapter logs in over REST and checks that the gateway accepts connections before handing
over to discord.py; while either fails it waits (1 s, doubling to 5 minutes) and tries
again, saying so in one line. Only a rejected token stops it (a ConfigError).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord

log = logging.getLogger(__name__)

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 300.0
CHECK_TIMEOUT_S = 10.0
# What a network that is down, refusing or flaky raises: worth another try later.
UNREACHABLE = (OSError, aiohttp.ClientError, discord.GatewayNotFound, discord.DiscordServerError,
               asyncio.TimeoutError)


class OneLineRetries(logging.Filter):
    """Turns discord.py's retry tracebacks into one warning line naming the cause."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({describe(exc)})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_FILTER = OneLineRetries()


def quiet_discord_tracebacks() -> None:
    """Install the one-line filter on discord.py's connection loggers (idempotent)."""
    for name in ("discord.client", "discord.gateway", "discord.shard"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def describe(exc: BaseException) -> str:
    """'ConnectionRefusedError: Connect call failed ...' for the innermost cause."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc) or "no details"
    return f"{type(exc).__name__}: {text[:200]}"


async def gateway_reachable(url: str) -> None:
    """Open and close one TCP connection to the gateway's host (OSError when refused)."""
    import yarl

    u = yarl.URL(url)
    port = u.port or (443 if u.scheme in ("wss", "https") else 80)
    _, writer = await asyncio.wait_for(asyncio.open_connection(u.host, port), CHECK_TIMEOUT_S)
    writer.close()


async def keep_connected(start: Callable[[], Awaitable[None]], where: Callable[[], str],
                         sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Run ``start()`` until it returns; while Discord is unreachable, retry with backoff."""
    delay = FIRST_DELAY_S
    while True:
        try:
            await start()
            return
        except UNREACHABLE as exc:
            reason = describe(exc)
        except AttributeError as exc:  # discord.py's crash on a failed first connection
            if exc.__context__ is None:
                raise
            reason = describe(exc)
        log.warning("Discord: cannot reach %s (%s); trying again in %.0f s", where(), reason,
                    delay)
        await sleep(delay)
        delay = min(delay * 2, MAX_DELAY_S)
