"""Reddit: summons by mention or keyword, and ``!continue`` under the bot's passages; one
reply each, exactly once across restarts.

``adapter`` (the polling loop, ``RedditAdapter``), ``client`` (praw calls on their own thread
and how their failures are classified), ``rules`` (whom and where the bot may answer),
``ledger`` (the ``reddit_items`` state machine that makes replies exactly-once),
``passages`` (what a summons asks the Dispatcher for), ``text`` (prompt extraction, reply
formatting, footers).
"""

from bot.adapters.reddit.adapter import RedditAdapter, credentials_from_env

__all__ = ["RedditAdapter", "credentials_from_env"]
