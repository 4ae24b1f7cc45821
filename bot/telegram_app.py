"""The Telegram bot: translates updates into questions for the `Answerer` and answers into messages.

No retrieval here: a question goes to `Answerer.answer` in a worker thread, the `Answer` comes back
and `bot.formatting` turns it into HTML. This module only deals with Telegram: who may ask, when to
answer in groups, follow-ups by reply, feedback buttons, retries, and start-up.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import secrets
import warnings
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBUserWarning

from bot.answer_processes import AnswerProcesses
from bot.answering import Answerer
from bot.errors import ConfigError
from bot.feedback import FeedbackStore
from bot.formatting import to_plain_text, to_telegram_html
from bot.limits import AccessList, RateLimiter
from bot.messages import say
from bot.models import Answer
from bot.settings import TelegramSettings
from index.build import BuildSettings
from index.models import Document

log = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
REFUSED_TOKEN = (
    "Telegram refused TELEGRAM_BOT_TOKEN (revoked, or TELEGRAM_API_BASE is wrong): "
    "check both, or get a new token from @BotFather."
)
SOURCE_LIST_CHARS = 3000  # a page of /start and /sources is one message, under Telegram's 4,096
TITLE_CHARS = 300  # of a title or publisher in that list
SEND_ATTEMPTS = 5
# Only what the handlers handle: an update type PTB cannot parse never reaches the bot at all.
ANSWERED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
WATCH_INTERVAL = 5.0
EXAMPLES = (
    "Why did Albanese skip the summit?",
    "What share of GDP does South Korea spend on defence?",
    "Who represented New Zealand at the summit?",
)
COMMANDS = [
    BotCommand("start", "what I know and how to ask"),
    BotCommand("help", "how to ask"),
    BotCommand("sources", "the documents I answer from"),
]


@dataclass
class BotServices:
    """What the handlers share (kept in `bot_data["services"]`)."""

    answerer: Answerer  # the index it serves (sources, rebuilds); answers come from `answer`
    answer: Callable[[str, str | None], Awaitable[Answer]]  # (question, previous) -> Answer
    feedback: FeedbackStore
    access: AccessList
    rate: RateLimiter
    typing_after: float = 0.5  # seconds an answer may take before "typing..." is shown
    chat_locks: dict[int, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))


def services(context: ContextTypes.DEFAULT_TYPE) -> BotServices:
    return context.application.bot_data["services"]


def check_token(settings: TelegramSettings) -> str:
    """The bot token, or a `ConfigError` that says what is wrong without showing it."""
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value().strip():
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token.")
    token = settings.telegram_bot_token.get_secret_value().strip()
    if not TOKEN_PATTERN.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is malformed: it should look like 123456:ABC-DEF..., as @BotFather gives it."
        )
    return token


def confirm_token(settings: TelegramSettings, timeout: float = 15.0) -> None:
    """Ask Telegram (`getMe`) whether it knows the token, before anything else is loaded.

    Raises:
        ConfigError: refused (401: revoked; 404: wrong token or TELEGRAM_API_BASE) or unreachable,
            in one sentence that never quotes the token or the URL holding it.
    """
    token = check_token(settings)
    quiet_http_logs(token)
    try:
        status = httpx.get(f"{settings.telegram_api_base}{token}/getMe", timeout=timeout).status_code
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"cannot reach Telegram at start-up ({exc.__class__.__name__}); is the network up?"
        ) from None
    if status in (401, 404):
        raise ConfigError(REFUSED_TOKEN) from None
    if status != 200:
        raise ConfigError(f"Telegram answered getMe with HTTP {status}; try again later.")


SEND_CONNECTIONS = 256  # PTB's own default for the bot's requests, concurrent answers need them


def _no_raw_updates(record: logging.LogRecord) -> bool:
    """PTB logs a batch it cannot parse whole, message texts and user names included: not here."""
    return not str(record.msg).startswith("Error while parsing updates")


class TolerantBot(ExtBot):
    """PTB's bot, except that an update it cannot parse is skipped instead of wedging polling.

    PTB parses a batch of updates at once; one malformed update fails the batch, the offset never
    moves past it, and the same batch fails again every poll, logged each time with every message's
    text. Here the batch is fetched again and parsed update by update; what cannot be parsed is
    confirmed to the server (so it is not sent again) and logged by its id alone.
    """

    async def get_updates(self, offset: int | None = None, *args, **kwargs) -> tuple[Update, ...]:
        try:
            return await super().get_updates(offset, *args, **kwargs)
        except TelegramError:
            raise
        except Exception:  # PTB could not parse one of them; see the class's docstring
            return await self._readable_updates(offset, kwargs.get("allowed_updates"))

    async def _readable_updates(self, offset: int | None, allowed: object) -> tuple[Update, ...]:
        raw = await self._raw_updates({"offset": offset, "timeout": 0, "allowed_updates": allowed})
        readable, skipped = [], []
        for data in raw:
            try:
                readable.append(Update.de_json(data, self))
            except Exception:
                skipped.append(data.get("update_id") if isinstance(data, dict) else None)
        ids = [i for i in skipped if isinstance(i, int)]
        if ids and (not readable or max(ids) > readable[-1].update_id):
            # Confirm the unreadable ones: Telegram drops every update below the offset asked for.
            await self.do_api_request(
                "getUpdates", api_kwargs={"offset": max(ids) + 1, "timeout": 0, "limit": 1}
            )
        log.warning("skipped %d update(s) the Telegram client could not read: ids %s", len(skipped), skipped)
        return tuple(readable)

    async def _raw_updates(self, arguments: dict) -> list:
        with warnings.catch_warnings():  # PTB asks for get_updates, the very call that cannot parse
            warnings.simplefilter("ignore", PTBUserWarning)
            return await self.do_api_request("getUpdates", api_kwargs=arguments) or []


def build_application(
    settings: TelegramSettings,
    answerer: Answerer,
    watch: BuildSettings | None = None,
    processes: AnswerProcesses | None = None,
) -> Application:
    """The PTB `Application` with every handler registered (not yet running).

    Args:
        watch: the index build to redo whenever its sources change (None: no watching).
        processes: where questions are answered; None: by `answerer`, in a thread of this process.
    """
    token = check_token(settings)
    logging.getLogger("telegram.ext.ExtBot").addFilter(_no_raw_updates)  # once: a filter is a set
    bot = TolerantBot(
        token,
        base_url=settings.telegram_api_base,
        request=HTTPXRequest(connection_pool_size=SEND_CONNECTIONS),
        get_updates_request=HTTPXRequest(),
    )
    application = (
        ApplicationBuilder()
        .bot(bot)
        .concurrent_updates(True)  # a slow question in one chat never blocks the others
        .post_init(_post_init)
        .post_stop(_post_stop)
        .build()
    )
    application.bot_data["services"] = BotServices(
        answerer=answerer,
        answer=processes.answer if processes else _in_a_thread(answerer),
        feedback=FeedbackStore(settings.feedback_path, settings.feedback_days),
        access=AccessList(settings.allowed_ids),
        rate=RateLimiter(settings.rate_limit_per_minute),
        typing_after=settings.typing_after_seconds,
    )
    if watch is not None:
        application.bot_data["watch"] = (watch, answerer.live_index.embedder, WATCH_INTERVAL)
    application.bot_data["token_check_seconds"] = settings.token_check_seconds
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(CommandHandler("sources", sources_command))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, question))
    application.add_handler(CallbackQueryHandler(feedback_pressed, pattern=r"^fb:"))
    application.add_error_handler(on_error)
    return application


def _in_a_thread(answerer: Answerer) -> Callable[[str, str | None], Awaitable[Answer]]:
    async def answer(question: str, previous: str | None) -> Answer:
        return await asyncio.to_thread(answerer.answer, question, previous)

    return answer


async def _post_init(application: Application) -> None:
    await application.bot.set_my_commands(COMMANDS)
    # Background loops, started here (before PTB counts the application as running) and cancelled
    # in `_post_stop`, so none is left pending at shutdown.
    loops = [asyncio.create_task(_check_token(application), name="token-check")]
    watched = application.bot_data.get("watch")
    if watched:
        loops.append(asyncio.create_task(_watch_sources(*watched), name="watch-sources"))
    application.bot_data["background"] = loops


async def _post_stop(application: Application) -> None:
    for task in application.bot_data.get("background", []):
        task.cancel()


async def _check_token(application: Application) -> None:
    """Stop the bot when Telegram stops accepting its token (revoked while running): PTB then ends
    polling for good while the process lives on, answering nobody. Stopped, `serve` exits 1, so a
    supervisor restarts it or alerts."""
    while True:
        await asyncio.sleep(application.bot_data["token_check_seconds"])
        try:
            await application.bot.get_me()
        except InvalidToken:
            log.error("Telegram no longer accepts the token; stopping")
            application.bot_data["fatal"] = REFUSED_TOKEN
            application.stop_running()
            return
        except TelegramError:  # Telegram unreachable for a moment: polling reports and retries that
            continue


async def _watch_sources(build_settings, embedder, interval: float) -> None:
    """Rebuild the index when files in sources/ change; the LiveIndex then serves the new one."""
    from index.build import rebuild
    from index.status import index_status

    while True:
        await asyncio.sleep(interval)
        try:
            if (await asyncio.to_thread(index_status, build_settings)).stale:
                report = await asyncio.to_thread(rebuild, build_settings, embedder)
                log.info(
                    "sources changed: index %s (%d added, %d updated, %d removed)",
                    report.version,
                    len(report.added),
                    len(report.updated),
                    len(report.removed),
                )
        except Exception:  # a failed rebuild leaves the old index serving; try again next round
            log.exception("rebuilding the index after a source change failed")


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: what the bot knows, and example questions."""
    message = update.effective_message
    if message is None or not await _admitted(update, context):
        return
    examples = "\n".join(f"• {html.escape(e)}" for e in EXAMPLES)
    sources = await _source_list(context)
    text = (
        f"I answer questions from these sources and quote the passages I rely on:\n\n{sources}"
        f"\n\nTry:\n{examples}\n\nIn groups, mention me or reply to my answer."
    )
    await _send(message.reply_html, text)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: how to ask."""
    message = update.effective_message
    if message is None or not await _admitted(update, context):
        return
    user = update.effective_user
    language = (user.language_code or "en").split("-")[0] if user else "en"  # Telegram's app language
    await _send(message.reply_text, say("help", language))


async def sources_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sources [page]: the indexed documents, newest first, a message-sized page at a time."""
    message = update.effective_message
    if message is None or not await _admitted(update, context):
        return
    wanted = context.args[0] if context.args else "1"
    page = int(wanted) if wanted.isdigit() else 1
    await _send(message.reply_html, await _source_list(context, page), disable_web_page_preview=True)


async def _source_list(context: ContextTypes.DEFAULT_TYPE, page: int = 1) -> str:
    """One page of the source list, and how to see the next."""
    live = services(context).answerer.live_index
    # Loading a new snapshot can take seconds: never on the event loop, where it stalls every chat.
    retriever = await asyncio.to_thread(live.retriever)
    pages = source_pages(retriever.documents())
    page = min(max(page, 1), len(pages))
    text = "\n".join(pages[page - 1])
    if len(pages) > 1:
        more = f" Send /sources {page + 1} for more." if page < len(pages) else ""
        text += f"\n\nPage {page} of {len(pages)}.{more}"
    return text


def source_pages(documents: list[Document]) -> list[list[str]]:
    """The documents, newest first, one line each, cut into pages of at most `SOURCE_LIST_CHARS`."""
    pages: list[list[str]] = [[]]
    length = 0
    for d in sorted(documents, key=lambda d: d.date, reverse=True):
        name = html.escape(d.title[:TITLE_CHARS])
        linked = d.url and len(d.url) <= TITLE_CHARS
        title = f'<a href="{html.escape(d.url, quote=True)}">{name}</a>' if linked else name
        meta = ", ".join(html.escape(p[:TITLE_CHARS]) for p in (d.publisher, d.date) if p)
        line = f"• {title}{f' ({meta})' if meta else ''}"
        if pages[-1] and length + len(line) + 1 > SOURCE_LIST_CHARS:
            pages.append([])
            length = 0
        pages[-1].append(line)
        length += len(line) + 1
    return pages


async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text message: answer it if it is for us (private chat, mention, or reply to us)."""
    message = update.effective_message
    text = addressed_text(message, context.bot.username)
    if message is None or text is None or not await _admitted(update, context):
        return
    shared = services(context)
    user = update.effective_user  # None for channel posts: the chat is the asker
    asker = user.id if user else message.chat_id
    if not shared.rate.allow(asker):
        if shared.rate.should_warn(asker):
            await _send(message.reply_text, "You're asking faster than I can read — please wait a minute.")
        return
    async with shared.chat_locks[message.chat_id]:  # answers in a chat go out in the order asked
        previous = _previous_question(message, context)
        answering = asyncio.ensure_future(shared.answer(text, previous))
        # "typing..." only when the answer keeps the user waiting: for a quick one it would be a
        # flicker, and one more request to Telegram per question for a busy bot.
        if not (await asyncio.wait({answering}, timeout=shared.typing_after))[0]:
            await _send(context.bot.send_chat_action, chat_id=message.chat_id, action=ChatAction.TYPING)
        answer = await answering
        try:
            sent = await deliver(context, message, answer)
        except TimedOut:  # it may have arrived: neither resend it nor apologise for it
            log.warning("sending an answer timed out; not sent again, as it may have arrived")
            return
        if answer.resolved_question:
            memory = _chat_memory(context)
            memory["previous"] = answer.resolved_question
            memory.setdefault("asked", {})[sent.message_id] = answer.resolved_question


def addressed_text(message: Message | None, username: str) -> str | None:
    """The question in `message` if it is meant for the bot, else None."""
    if message is None or message.text is None:
        return None
    if message.chat.type == ChatType.PRIVATE:
        return message.text
    mention = re.compile(rf"(?<![\w@])@{re.escape(username)}(?!\w)", re.IGNORECASE)  # not @{username}_evil
    replied_to_us = (
        message.reply_to_message is not None
        and message.reply_to_message.from_user is not None
        and message.reply_to_message.from_user.username == username
    )
    if mention.search(message.text):
        return mention.sub(" ", message.text).strip()
    return message.text if replied_to_us else None


def _previous_question(message: Message, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    """The question a follow-up refers to: the answer replied to, else the chat's last question."""
    memory = _chat_memory(context)
    asked = memory.get("asked", {})
    if message.reply_to_message is not None and message.reply_to_message.message_id in asked:
        return asked[message.reply_to_message.message_id]
    return memory.get("previous")


def _chat_memory(context: ContextTypes.DEFAULT_TYPE) -> dict:
    """The chat's questions so far (PTB keeps one dict per chat; updates without a chat get none)."""
    return context.chat_data if context.chat_data is not None else {}


async def deliver(context: ContextTypes.DEFAULT_TYPE, message: Message, answer: Answer) -> Message:
    """Send the answer as HTML (plain text if Telegram rejects the HTML); buttons on the last part."""
    key = services(context).feedback.remember(answer, message.chat_id)
    buttons = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("👍", callback_data=f"fb:up:{key}"),
                InlineKeyboardButton("👎", callback_data=f"fb:down:{key}"),
            ]
        ]
    )
    try:
        return await _send_parts(context, message, to_telegram_html(answer), buttons, ParseMode.HTML)
    except BadRequest as exc:
        log.warning("Telegram rejected the HTML answer (%s); sending plain text", exc.message)
        return await _send_parts(context, message, to_plain_text(answer), buttons, None)


async def _send_parts(
    context: ContextTypes.DEFAULT_TYPE,
    message: Message,
    parts: list[str],
    buttons: InlineKeyboardMarkup,
    parse_mode: str | None,
) -> Message:
    sent = None
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        sent = await _send(
            context.bot.send_message,
            chat_id=message.chat_id,
            text=part,
            parse_mode=parse_mode,
            reply_to_message_id=message.message_id if i == 0 else None,
            reply_markup=buttons if last else None,
            disable_web_page_preview=True,
            resend_on_timeout=False,
        )
    assert sent is not None, "an answer always has at least one part"
    return sent


async def _send(call, *args, resend_on_timeout: bool = True, **kwargs):
    """Call the Bot API, waiting out 429s and retrying transient network and 5xx errors.

    Args:
        resend_on_timeout: False for messages: a send that timed out may still have arrived
            (PTB issue 1045), and a user is better served by one answer than by two.
    """
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await call(*args, **kwargs)
        except RetryAfter as exc:
            delay = (
                exc.retry_after.total_seconds()
                if hasattr(exc.retry_after, "total_seconds")
                else exc.retry_after
            )
            log.info("Telegram asked to retry after %s s", delay)
            await asyncio.sleep(float(delay))
        except (TimedOut, NetworkError) as exc:
            if isinstance(exc, BadRequest) or attempt == SEND_ATTEMPTS:
                raise
            if isinstance(exc, TimedOut) and not resend_on_timeout:
                raise
            log.info("transient Telegram error (%s), retry %d", exc.__class__.__name__, attempt)
            await asyncio.sleep(0.2 * 2**attempt)
    raise NetworkError("gave up after repeated retry-after answers")


async def feedback_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A 👍/👎 press: store it, thank the user, remove the buttons."""
    query = update.callback_query
    if query is None:
        return
    vote, _, key = (query.data or "").removeprefix("fb:").partition(":")
    if vote not in ("up", "down") or not key:  # not a button of ours: acknowledge, do nothing
        await _send(query.answer)
        return
    stored = services(context).feedback.record(key, vote, query.from_user.id)
    await _send(query.answer, "Thanks for the feedback!" if stored else "That answer is too old to rate.")
    if stored:
        await _send(query.edit_message_reply_markup, reply_markup=None)


async def _admitted(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    user, chat = update.effective_user, update.effective_chat
    if services(context).access.permits(user.id if user else None, chat.id if chat else None):
        return True
    if update.effective_message is not None:
        await _send(
            update.effective_message.reply_text, "Sorry, this bot is private. Ask its owner to add you."
        )
    return False


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error; tell the user something went wrong; keep running."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(
                update.effective_chat.id, "Sorry, something went wrong on my side. Please try again."
            )
        except Exception:  # the apology itself failed: the log line above is all we can do
            log.warning("could not send the apology", exc_info=True)


def serve(
    settings: TelegramSettings,
    answerer: Answerer,
    watch: BuildSettings | None = None,
    webhook_url: str | None = None,
    listen: str = "127.0.0.1:8443",
    processes: AnswerProcesses | None = None,
) -> int:
    """Run the bot until SIGINT/SIGTERM: long polling, or a webhook with a secret token.

    Raises:
        ConfigError: Telegram refused the token or could not be reached at start-up (one sentence;
            PTB's own message holds the token, so it is never shown).
    """
    application = build_application(settings, answerer, watch, processes)
    quiet_http_logs(application.bot.token)
    try:
        _run(application, settings, webhook_url, listen)
        if "fatal" in application.bot_data:
            raise ConfigError(application.bot_data["fatal"])
    except InvalidToken:
        raise ConfigError(REFUSED_TOKEN) from None
    except TelegramError as exc:
        raise ConfigError(f"could not start the bot: Telegram answered {exc.__class__.__name__}.") from None
    return 0


def _run(application: Application, settings: TelegramSettings, webhook_url: str | None, listen: str) -> None:
    if webhook_url is None:
        application.run_polling(allowed_updates=ANSWERED_UPDATES)
        return
    host, _, port = listen.rpartition(":")
    secret = (
        settings.webhook_secret.get_secret_value() if settings.webhook_secret else secrets.token_urlsafe(32)
    )
    application.run_webhook(
        listen=host or "127.0.0.1",
        port=int(port),
        url_path=urlparse(webhook_url).path.lstrip("/"),
        webhook_url=webhook_url,
        secret_token=secret,
        allowed_updates=ANSWERED_UPDATES,
    )


def quiet_http_logs(token: str | None = None) -> None:
    """Keep the token out of the logs: httpx logs request URLs at INFO and PTB logs the API URL at
    DEBUG, and both contain it. Quieten them, and redact the token from whatever still gets out."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(logging.INFO)
    if token:
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, TokenRedactor) and f.token == token for f in handler.filters):
                handler.addFilter(TokenRedactor(token))  # once per handler, however often called


class TokenRedactor(logging.Filter):
    """Replaces the bot token with [token] in a log record's message and in its traceback (PTB's
    `InvalidToken` message quotes the token)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "[token]"), None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, text.replace(self.token, "[token]")
        elif record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "[token]")
        return True
