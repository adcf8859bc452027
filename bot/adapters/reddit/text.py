"""Reddit text handling: finding a summons, cleaning its prompt, formatting the reply.

Pure functions, no praw: everything here is tested without a network.
"""

from __future__ import annotations

import re

from bot.safety import spoilers

OPT_OUT = "!optout"
OPT_IN = "!optin"
# markdown [text](url) -> text. The classes stop at the next bracket or parenthesis, so every
# '[' is scanned only to the next one: linear (with [^\]]* a run of '[' was quadratic).
_LINK = re.compile(r"\[([^\[\]]*)\]\([^()]*\)")
MAX_BODY_CHARS = 40_000  # Reddit's own limit for a post; comments are shorter
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPOILER = re.compile(r">!|!<")
_MARKUP = re.compile(r"[*_~^`#|\\\[\]<>]")
_QUOTES = "\"'“”‘’«»„"
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)")
# u/name, /u/name, r/name, /r/name (any case) at a word start: Reddit links them, and a
# username link in a comment notifies that user
_SUMMONS = re.compile(r"(?<![\w\\])(/?)([ur])/(?=[\w-])", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_RATELIMIT = re.compile(r"(\d+(?:\.\d+)?)\s*(millisecond|second|minute|hour)s?", re.IGNORECASE)


def mention_pattern(username: str) -> re.Pattern[str]:
    """Matches `u/<name>` or `/u/<name>` (any case), not inside a longer word or name."""
    return re.compile(rf"(?<![\w/])/?u/{re.escape(username)}(?![\w-])", re.IGNORECASE)


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Matches the keyword command, e.g. `!stormlight`, as a whole word."""
    return re.compile(rf"(?<![\w!]){re.escape(keyword)}(?![\w-])", re.IGNORECASE)


def find_trigger(body: str, pattern: re.Pattern[str]) -> str | None:
    """The rest of the first line that contains the trigger, or None when it is absent.

    Lines inside quotes (`> ...`) do not count: quoting someone's summons is not one.
    """
    for line in (body or "")[:MAX_BODY_CHARS].splitlines():
        if line.lstrip().startswith(">") and not line.lstrip().startswith(">!"):
            continue
        m = pattern.search(line)
        if m:
            return line[m.end():]
    return None


def has_command(body: str, command: str) -> bool:
    """True when a line of the body starts with `command` (e.g. `!optout`)."""
    lines = (body or "")[:MAX_BODY_CHARS].splitlines()
    return any(line.strip().lower().startswith(command) for line in lines)


def clean_prompt(raw: str, max_chars: int, default: str) -> str:
    """Strip links, markdown and quotes; bound the length at a word; empty -> default."""
    # bounded first: whatever the markup, no more than this much is ever looked at
    text = _LINK.sub(r"\1", (raw or "")[: max(8 * max_chars, 10_000)])
    text = _URL.sub(" ", text)
    text = _SPOILER.sub(" ", text)
    text = _MARKUP.sub(" ", text)
    text = "".join(" " if ch in _QUOTES else ch for ch in text)
    text = " ".join(text.split()).strip(" :,-–—")
    if len(text) > max_chars:
        cut = text[: max_chars + 1]
        text = cut[: cut.rfind(" ")] if " " in cut else cut[:max_chars]
        text = text.rstrip()
    return text or default


def defuse_mentions(text: str) -> str:
    """Make every u/name, /u/name, r/name and /r/name plain text (``u\\/name``): no link, no
    notification. Invisible characters go first, so none can hide a summons."""
    return _SUMMONS.sub(lambda m: f"{m.group(1)}{m.group(2)}\\/", _INVISIBLE.sub("", text))


def escape_markdown(text: str) -> str:
    """Neutralise characters that Reddit markdown would turn into links, headings or spoilers."""
    text = re.sub(r"([\\*_~^`\[\]|#])", r"\\\1", text)
    text = text.replace(">!", ">\\!").replace("!<", "\\!<")
    # [^\S\n]: horizontal space only; \s* ran over blank lines and made this quadratic
    return re.sub(r"(?m)^([^\S\n]*)>", r"\1\\>", text)


def footer(source_url: str) -> str:
    """The note under every reply: it is a bot, the text is generated, how to opt out."""
    return (
        f"^(I am a bot. This passage is machine-generated, not quoted from the books. "
        f"Reply {OPT_OUT} and I will not reply to you again; {OPT_IN} undoes it.) "
        f"[^(source)]({source_url})"
    )


def cut_at_sentence(text: str, limit: int) -> str:
    """The longest prefix of text within `limit` chars that ends a sentence (else a word)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends:
        return head[: ends[-1]].rstrip()
    words = head[: limit - 1].rsplit(" ", 1)[0] if " " in head else head[: limit - 1]
    return words.rstrip() + "…"


def _quote(paragraph: str, spoiler: bool) -> str:
    return f"> >!{paragraph}!<" if spoiler else f"> {paragraph}"


def format_reply(passage: str, *, spoiler: bool, footer_text: str, max_chars: int) -> str:
    """The passage as a blockquote (spoiler-tagged if asked) plus the footer, within max_chars."""
    tail = f"\n\n---\n\n{footer_text}"
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", passage.strip())]
    paragraphs = [escape_markdown(p) for p in paragraphs if p] or ["…"]
    overhead = len(tail) + len(paragraphs) * (len(_quote("", spoiler)) + 2)
    budget = max(max_chars - overhead, 40)
    kept: list[str] = []
    used = 0
    for p in paragraphs:
        room = budget - used
        if room <= 20:
            break
        kept.append(p if len(p) <= room else cut_at_sentence(p, room))
        used += len(kept[-1])
        if len(p) > room:
            break
    body = "\n\n".join(_quote(defuse_mentions(p), spoiler) for p in kept)
    return (body + tail)[:max_chars]


def format_text_reply(text: str, *, footer_text: str, max_chars: int) -> str:
    """A command's answer (stats, progress...): a paragraph per line, spoiler spans as
    ``>!…!<`` (closed and reopened at each line: Reddit spoilers stay in a paragraph)."""
    tail = f"\n\n---\n\n{footer_text}"
    lines = [ln.strip() for ln in text.replace("**", "").split("\n") if ln.strip()] or ["…"]
    kept: list[str] = []
    budget = max_chars - len(tail)
    for line in spoilers.balance(lines):
        rendered = defuse_mentions(spoilers.render(escape_markdown(line), ">!", "!<"))
        if sum(len(k) + 2 for k in kept) + len(rendered) > budget:
            break
        kept.append(rendered)
    return "\n\n".join(kept) + tail


def join_passage(prompt: str, continuation: str) -> str:
    """The prompt followed by its continuation, as one passage."""
    continuation = continuation.strip()
    if not continuation or continuation == "…":
        return prompt
    glue = "" if continuation[0] in ".,;:!?'’”)" else " "
    return f"{prompt}{glue}{continuation}"


def parse_retry_seconds(message: str) -> float | None:
    """Seconds from Reddit's 'try again in N minutes/seconds' (or 'take a break for N ...')."""
    m = _RATELIMIT.search(message or "")
    if not m:
        return None
    n, unit = float(m.group(1)), m.group(2).lower()
    return n * {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600}[unit]
