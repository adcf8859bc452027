"""A fake Reddit API on 127.0.0.1 for driving real praw: just enough endpoints, on disk or not.

It records every request, serves the inbox, subreddit comment listings, the bot's own
comments and `/api/info`, creates comments and private messages, and can fail on purpose:
HTTP errors before or after creating a comment, RATELIMIT answers, banned subreddits and
locked threads. State lives in this (the test) process, so it survives the bot's restarts.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT = "sprenbot"


@dataclass
class Fault:
    """One injected failure for requests whose path starts with `path`."""

    path: str
    status: int = 500
    after_create: bool = False  # create the comment, then fail (the double-post trap)
    ratelimit: str | None = None  # answer 200 with a RATELIMIT error carrying this message
    times: int = 1


@dataclass
class FakeReddit:
    """The server's state; every public method is safe to call from the test thread."""

    me: str = BOT
    comments: dict[str, dict] = field(default_factory=dict)
    links: dict[str, dict] = field(default_factory=dict)
    inbox: list[dict] = field(default_factory=list)  # {"kind", "data"} with data["new"]
    sent: list[dict] = field(default_factory=list)  # private messages the bot sent
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    posted_by: dict[str, str] = field(default_factory=dict)  # bot comment -> its User-Agent
    banned: set[str] = field(default_factory=set)
    moderators: dict[str, set[str]] = field(default_factory=dict)  # subreddit -> names
    message_replies: list[dict] = field(default_factory=list)  # the bot's answers to PMs
    on_request: Any = None  # callable(method, path) run after a request took effect,
    # before its answer is sent (the crash test kills the bot there)
    _ids: Any = field(default_factory=lambda: itertools.count(1000))
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ---- building the world ------------------------------------------------------------
    def new_id(self) -> str:
        return format(next(self._ids), "x") + "z"

    def add_link(self, subreddit: str, locked: bool = False) -> str:
        """A post to comment under; returns its fullname (t3_...)."""
        with self.lock:
            lid = self.new_id()
            self.links[f"t3_{lid}"] = {
                "id": lid, "name": f"t3_{lid}", "title": "A thread", "subreddit": subreddit,
                "author": "op", "locked": locked, "archived": False, "created_utc": time.time(),
                "permalink": f"/r/{subreddit}/comments/{lid}/a_thread/", "num_comments": 0}
            return f"t3_{lid}"

    def add_comment(self, author: str, body: str, link: str, parent: str | None = None,
                    mention: bool = False, reply_to_bot: bool = False) -> str:
        """A user's comment; `mention`/`reply_to_bot` also put it in the bot's inbox."""
        with self.lock:
            c = self._make_comment(author, body, link, parent or link)
            if mention or reply_to_bot:
                d = dict(c, was_comment=True, new=True,
                         type="username_mention" if mention else "comment_reply",
                         subject="username mention" if mention else "comment reply",
                         context=f"{c['permalink']}?context=3", link_title="A thread")
                d.pop("link_id")  # real inbox items carry the thread only in `context`
                self.inbox.append({"kind": "t1", "data": d})
            return c["name"]

    def add_message(self, author: str, body: str, subject: str = "hello") -> str:
        """A private message to the bot."""
        with self.lock:
            mid = self.new_id()
            self.inbox.append({"kind": "t4", "data": {
                "id": mid, "name": f"t4_{mid}", "author": author, "dest": self.me,
                "subject": subject, "body": body, "was_comment": False, "new": True,
                "created_utc": time.time(), "replies": "", "subreddit": None,
                "parent_id": None, "first_message_name": None, "context": ""}})
            return f"t4_{mid}"

    def _make_comment(self, author: str, body: str, link: str, parent: str) -> dict:
        cid = self.new_id()
        sub = self.links[link]["subreddit"]
        c = {"id": cid, "name": f"t1_{cid}", "author": author, "body": body,
             "subreddit": sub, "link_id": link, "parent_id": parent, "locked": False,
             "created_utc": time.time() + len(self.comments) * 1e-3, "replies": "",
             "permalink": f"/r/{sub}/comments/{link[3:]}/a_thread/{cid}/", "score": 1}
        self.comments[c["name"]] = c
        return c

    # ---- what the tests look at ------------------------------------------------------------
    def replies_to(self, fullname: str) -> list[dict]:
        """The bot's comments whose parent is `fullname`."""
        with self.lock:
            return [c for c in self.comments.values()
                    if c["parent_id"] == fullname and c["author"] == self.me]

    def is_unread(self, fullname: str) -> bool:
        with self.lock:
            return any(i["data"]["name"] == fullname and i["data"]["new"] for i in self.inbox)

    def calls(self, method: str, path_prefix: str) -> list[dict]:
        """The recorded requests of one method under a path."""
        with self.lock:
            return [form for m, p, form in self.requests if m == method
                    and p.startswith(path_prefix)]

    def fail(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    # ---- serving ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, form: dict[str, str],
               agent: str = "") -> tuple[int, Any]:
        """Answer one request: (status, JSON body); `agent` is the client's User-Agent."""
        path = path.rstrip("/") or "/"
        with self.lock:
            self.requests.append((method, path, form))
            fault = self._fault(path)
            if fault and not fault.after_create and fault.ratelimit is None:
                return fault.status, {"error": fault.status}
            if fault and fault.ratelimit is not None:
                return 200, {"json": {"errors": [["RATELIMIT", fault.ratelimit, "ratelimit"]]}}
            status, body = self._route(method, path, form)
            if path == "/api/comment" and status == 200 and "data" in body.get("json", {}):
                self.posted_by[body["json"]["data"]["things"][0]["data"]["name"]] = agent
            if self.on_request is not None:
                self.on_request(method, path)
            if fault and fault.after_create:
                return fault.status, {"error": fault.status}
            return status, body

    def _fault(self, path: str) -> Fault | None:
        for f in self.faults:
            if path.startswith(f.path) and f.times > 0:
                f.times -= 1
                return f
        return None

    def _route(self, method: str, path: str, form: dict[str, str]) -> tuple[int, Any]:
        if path == "/api/v1/access_token":
            return 200, {"access_token": "fake-token", "token_type": "bearer",
                         "expires_in": 3600, "scope": "*"}
        if path == "/api/v1/me":
            return 200, {"name": self.me, "id": "bot1", "created_utc": 0.0}
        if path == "/message/unread":
            return 200, _listing([i for i in self.inbox if i["data"]["new"]])
        if path == "/message/mentions":
            return 200, _listing([i for i in self.inbox
                                  if i["data"].get("type") == "username_mention"])
        if path == "/api/read_message":
            return self._read(form)
        if path == "/api/comment":
            return self._comment(form)
        if path == "/api/info":
            return 200, self._info(form.get("id", ""))
        if path == "/api/compose":
            self.sent.append(dict(form))
            return 200, {"json": {"errors": []}}
        if path.startswith("/r/") and path.endswith("/about/moderators"):
            return 200, self._moderators(path.split("/")[2], form.get("user", ""))
        if path.startswith("/r/") and path.endswith("/comments"):
            subs = {s.lower() for s in path.split("/")[2].split("+")}
            return 200, self._newest(lambda c: c["subreddit"].lower() in subs, form)
        if path.startswith("/user/") and path.endswith("/comments"):
            who = path.split("/")[2].lower()
            return 200, self._newest(lambda c: c["author"].lower() == who, form)
        return 404, {"message": "Not Found", "error": 404}

    def _read(self, form: dict[str, str]) -> tuple[int, Any]:
        names = set(form.get("id", "").split(","))
        for item in self.inbox:
            if item["data"]["name"] in names:
                item["data"]["new"] = False
        return 200, {}

    def _moderators(self, subreddit: str, user: str) -> dict:
        names = sorted(self.moderators.get(subreddit.lower(), set()))
        if user:
            names = [n for n in names if n.lower() == user.lower()]
        return {"kind": "UserList", "data": {"children": [
            {"name": n, "id": f"t2_{n}", "date": 0.0, "mod_permissions": ["all"],
             "rel_id": f"rb_{n}"} for n in names]}}

    def replies_to_message(self, fullname: str) -> list[dict]:
        """The bot's answers in the conversation of a private message."""
        with self.lock:
            return [m for m in self.message_replies if m["parent_id"] == fullname]

    def _message_reply(self, form: dict[str, str]) -> tuple[int, Any]:
        parent = next((i["data"] for i in self.inbox if i["data"]["name"] == form["thing_id"]),
                      None)
        if parent is None:
            return 200, _api_error("NO_THING_ID", "that message is gone", "parent")
        mid = self.new_id()
        msg = {"id": mid, "name": f"t4_{mid}", "author": self.me, "dest": parent["author"],
               "subject": "re: " + parent["subject"], "body": form.get("text", ""),
               "was_comment": False, "new": False, "created_utc": time.time(),
               "replies": "", "subreddit": None, "parent_id": parent["name"],
               "first_message_name": parent["name"], "context": ""}
        self.message_replies.append(msg)
        return 200, {"json": {"errors": [], "data": {"things": [{"kind": "t4", "data": msg}]}}}

    def _comment(self, form: dict[str, str]) -> tuple[int, Any]:
        if form["thing_id"].startswith("t4_"):
            return self._message_reply(form)
        parent = self.comments.get(form["thing_id"])
        if parent is None or parent["author"] == "[deleted]":
            return 200, _api_error("DELETED_COMMENT", "that comment is deleted", "parent")
        link = self.links[parent["link_id"]]
        if link["locked"] or parent["locked"]:
            return 200, _api_error("THREAD_LOCKED", "Comments are locked.", "parent")
        if link["subreddit"].lower() in self.banned:
            return 403, {"message": "Forbidden", "error": 403}
        if len(form.get("text", "")) > 10000:
            return 200, _api_error("TOO_LONG", "this is too long (max: 10000)", "text")
        c = self._make_comment(self.me, form["text"], parent["link_id"], parent["name"])
        return 200, {"json": {"errors": [], "data": {"things": [{"kind": "t1", "data": c}]}}}

    def _info(self, ids: str) -> dict:
        things = []
        for name in filter(None, ids.split(",")):
            if name in self.comments:
                things.append({"kind": "t1", "data": self.comments[name]})
            elif name in self.links:
                things.append({"kind": "t3", "data": self.links[name]})
        return _listing(things)

    def _newest(self, keep, form: dict[str, str]) -> dict:
        limit = int(form.get("limit") or 100)
        found = sorted((c for c in self.comments.values() if keep(c)),
                       key=lambda c: c["created_utc"], reverse=True)[:limit]
        return _listing([{"kind": "t1", "data": c} for c in found])


def _listing(children: list[dict]) -> dict:
    return {"kind": "Listing", "data": {"after": None, "before": None, "dist": len(children),
                                        "children": json.loads(json.dumps(children))}}


def _api_error(code: str, message: str, field_name: str) -> dict:
    return {"json": {"errors": [[code, message, field_name]]}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeReddit

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        form = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        size = int(self.headers.get("Content-Length") or 0)
        if size:
            form.update({k: v[-1] for k, v in
                         parse_qs(self.rfile.read(size).decode(), keep_blank_values=True).items()})
        status, body = self.fake.handle(method, parts.path, form,
                                        self.headers.get("User-Agent", ""))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A bot killed mid-request leaves a broken socket: expected in the crash test."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeRedditServer:
    """Runs a FakeReddit on 127.0.0.1 in a background thread; `url` is its base URL."""

    def __init__(self, fake: FakeReddit | None = None):
        self.fake = fake or FakeReddit()
        handler = type("Handler", (_Handler,), {"fake": self.fake})
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> FakeRedditServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
