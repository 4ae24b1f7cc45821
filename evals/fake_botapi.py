"""A small Bot API server on 127.0.0.1 for tests and benchmarks: the real PTB client talks HTTP to it.

Implements what the bot uses (getMe, getUpdates with long polling and offsets, sendMessage,
sendChatAction, answerCallbackQuery, editMessageText, editMessageReplyMarkup, setMyCommands,
deleteWebhook, setWebhook) plus test routes under /test/: inject an update, read what was sent,
and force failures (a status with retry_after, or a dropped connection).

`FakeBotAPI` serves from a thread of the caller's process (tests); `FakeBotAPIProcess` runs the same
server in a process of its own (`python -m evals.fake_botapi`) and drives it over the test routes,
so that a benchmark's bot shares neither the GIL nor a process with its "Telegram".
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:  # the bot is imported by the running bot itself, not by this module
    from bot.answer_processes import AnswerProcesses
    from bot.answering import Answerer
    from bot.settings import TelegramSettings

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Ragbot", "username": "ragbot_test_bot"}
HUMAN = {"id": 1001, "is_bot": False, "first_name": "Ada"}


class FakeBotAPI:
    """State of the fake server; safe to use from the test thread while the server runs."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.updates: list[dict] = []
        self.calls: list[tuple[str, dict]] = []
        self.failures: list[dict] = []
        self.chat_types: dict[int, str] = {}
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(5000)
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bot"

    def __enter__(self) -> FakeBotAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # --- test API -------------------------------------------------------------------------------

    def inject(self, update: dict) -> int:
        with self.lock:
            update = {"update_id": next(self._update_ids), **update}
            self.updates.append(update)
            for key in ("message", "callback_query"):
                chat = (update.get(key) or {}).get("chat") or (
                    (update.get(key) or {}).get("message") or {}
                ).get("chat")
                if isinstance(chat, dict):  # a malformed update (a test of one) may have none
                    self.chat_types[chat["id"]] = chat["type"]
            self.lock.notify_all()
            return update["update_id"]

    def message(self, text: str, **fields) -> dict:
        """A text message update (`message_update`'s fields), with a new message id."""
        return message_update(next(self._message_ids), text, **fields)

    def press(self, message: dict, data: str, user_id: int = 1001) -> dict:
        return {
            "callback_query": {
                "id": str(next(self._message_ids)),
                "from": {**HUMAN, "id": user_id},
                "chat_instance": "ci",
                "data": data,
                "message": message,
            }
        }

    def sent(self, method: str = "sendMessage") -> list[dict]:
        with self.lock:
            return [params for name, params in self.calls if name == method]

    def fail(
        self,
        method: str,
        status: int = 500,
        count: int = 1,
        retry_after: int | None = None,
        drop: bool = False,
        delay: float = 0.0,
    ) -> None:
        """The next `count` calls of `method` fail: with `status`, a dropped connection (`drop`), or
        (with `delay`) succeed only after `delay` seconds, later than a client may wait."""
        with self.lock:
            self.failures.append(
                {
                    "method": method,
                    "status": status,
                    "count": count,
                    "retry_after": retry_after,
                    "drop": drop,
                    "delay": delay,
                }
            )

    def wait_for(self, predicate, timeout: float = 60.0) -> bool:
        return wait_for(predicate, timeout)

    # --- Bot API --------------------------------------------------------------------------------

    def _failure_for(self, method: str) -> dict | None:
        with self.lock:
            for rule in self.failures:
                if rule["method"] == method and rule["count"] > 0:
                    rule["count"] -= 1
                    return rule
        return None

    def _call(self, method: str, params: dict):
        if method == "getUpdates":
            return self._get_updates(params)
        message: dict | None = None
        if method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            message = self._message_result(params)
        with self.lock:
            extra = (
                {"sent_message_id": message["message_id"], "received_at": time.perf_counter()}
                if message is not None
                else {}
            )
            self.calls.append((method, {**params, **extra}))
        if message is not None:
            return message
        if method == "getMe":
            return BOT_USER
        return True

    def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self.lock:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self.lock.wait(timeout=max(0.0, deadline - time.monotonic()))
            return list(self.updates[: int(params.get("limit") or 100)])

    def _message_result(self, params: dict) -> dict:
        chat_id = int(params.get("chat_id") or 0)
        return {
            "message_id": int(params.get("message_id") or next(self._message_ids)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": self.chat_types.get(chat_id, "private")},
            "from": BOT_USER,
            "text": params.get("text", ""),
        }

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/test/"):
                    return self._test_route(json.loads(body or b"{}"))
                method = self.path.rsplit("/", 1)[-1]
                params = _decode(body, self.headers.get("Content-Type", ""))
                rule = api._failure_for(method)
                if rule and rule["drop"]:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if rule and rule["delay"]:
                    time.sleep(rule["delay"])  # then carried out: the client timed out, the call did not
                    rule = None
                if rule:
                    extra = (
                        {"parameters": {"retry_after": rule["retry_after"]}} if rule["retry_after"] else {}
                    )
                    return self._reply(
                        rule["status"],
                        {"ok": False, "error_code": rule["status"], "description": "forced", **extra},
                    )
                self._reply(200, {"ok": True, "result": api._call(method, params)})

            do_GET = do_POST

            def _test_route(self, payload: dict) -> None:
                route = self.path.removeprefix("/test/")
                if route == "inject":
                    return self._reply(200, {"update_id": api.inject(payload)})
                if route == "sent":
                    return self._reply(200, api.sent(payload.get("method", "sendMessage")))
                if route == "sent_count":
                    return self._reply(200, len(api.sent(payload.get("method", "sendMessage"))))
                if route == "fail":
                    api.fail(**payload)
                    return self._reply(200, {"ok": True})
                self._reply(404, {"ok": False})

            def _reply(self, status: int, payload) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _decode(body: bytes, content_type: str) -> dict:
    """PTB sends form fields whose values are JSON-encoded (strings stay plain)."""
    if "json" in content_type:
        return json.loads(body or b"{}")
    params = {}
    for key, values in parse_qs(body.decode(), keep_blank_values=True).items():
        try:
            params[key] = json.loads(values[0])
        except ValueError:
            params[key] = values[0]
    return params


def wait_for(predicate, timeout: float = 60.0) -> bool:
    """Whether `predicate()` came true within `timeout` seconds (checked every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def message_update(
    message_id: int,
    text: str,
    chat_id: int = 1001,
    user_id: int = 1001,
    chat_type: str = "private",
    reply_to: dict | None = None,
) -> dict:
    """A text message update (commands carry their bot_command entity)."""
    message = {
        "message_id": message_id,
        "date": int(time.time()),
        "text": text,
        "chat": {"id": chat_id, "type": chat_type, **({"title": "group"} if chat_type != "private" else {})},
        "from": {**HUMAN, "id": user_id},
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    if reply_to:
        message["reply_to_message"] = reply_to
    return {"message": message}


class FakeBotAPIProcess:
    """`FakeBotAPI` in a child process, driven over its /test/ routes (inject, sent)."""

    def __init__(self) -> None:
        self._message_ids = itertools.count(5000)
        self._process: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> FakeBotAPIProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "evals.fake_botapi"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.base_url = self._process.stdout.readline().strip()
        if not self.base_url:
            raise RuntimeError("the fake Bot API process did not start")
        return self

    def __exit__(self, *exc) -> None:
        assert self._process is not None
        self._process.communicate(timeout=30)  # closing its stdin ends it

    def message(self, text: str, **fields) -> dict:
        """A text message update (`message_update`'s fields), with a new message id."""
        return message_update(next(self._message_ids), text, **fields)

    def inject(self, update: dict) -> int:
        return self._test_route("inject", update)["update_id"]

    def sent(self, method: str = "sendMessage") -> list[dict]:
        return self._test_route("sent", {"method": method})

    def sent_count(self, method: str = "sendMessage") -> int:
        return self._test_route("sent_count", {"method": method})

    def wait_for(self, predicate, timeout: float = 60.0) -> bool:
        return wait_for(predicate, timeout)

    def _test_route(self, route: str, payload: dict):
        root = self.base_url.removesuffix("/bot")
        request = urllib.request.Request(
            f"{root}/test/{route}", data=json.dumps(payload).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 1024  # the listen backlog: socketserver's 5 refuses a busy bot's connections

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-poll are normal: nothing to report."""


@contextmanager
def running_bot(
    settings: TelegramSettings,
    answerer: Answerer,
    webhook: dict | None = None,
    processes: AnswerProcesses | None = None,
) -> Iterator[None]:
    """Run the PTB Application (polling, or a webhook server) in a thread with its own loop."""
    from bot.telegram_app import build_application

    ready = threading.Event()
    loops: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        stop = asyncio.Event()
        loops.append((asyncio.get_running_loop(), stop))
        application = build_application(settings, answerer, processes=processes)
        updater = application.updater
        assert updater is not None  # built with a token, so PTB made one
        async with application:
            if application.post_init:
                await application.post_init(application)  # as run_polling/run_webhook do
            await application.start()
            if webhook:
                await updater.start_webhook(**webhook)
            else:
                await updater.start_polling(poll_interval=0.0, timeout=1)
            ready.set()
            await stop.wait()
            await updater.stop()
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)  # as run_polling/run_webhook do

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(60), "the bot did not start"
    try:
        yield
    finally:
        loop, stop = loops[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)


if __name__ == "__main__":  # `FakeBotAPIProcess`'s child: serve until stdin closes
    with FakeBotAPI() as served:
        print(served.base_url, flush=True)
        sys.stdin.read()
