"""`python -m bot ask|chat|serve`: the answering core on the command line, and the Telegram bot.

The answering core is imported after the arguments are read: a one-shot `ask` first starts parsing
its questions on the second core (`bot.early`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from typing import TYPE_CHECKING

from bot import early
from bot.errors import BotError
from bot.messages import say
from index.errors import IndexStoreError

if TYPE_CHECKING:
    from bot.models import Answer
    from bot.wiring import AppSettings


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.run is run_ask:
        args.questions = _questions(args.questions)
        early.start(args.questions)
    from bot.wiring import AppSettings
    from index.cli import run_subcommand

    return run_subcommand(args, (IndexStoreError, BotError), AppSettings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")
    ask = commands.add_parser("ask", help="answer questions (use - to read them from stdin)")
    ask.add_argument("questions", nargs="+")
    ask.add_argument("--json", action="store_true", help="one JSON object per question, one per line")
    ask.add_argument(
        "--as-of",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help='the day taken as "now": sources published after it are not used (default: today)',
    )
    ask.set_defaults(run=run_ask)
    chat = commands.add_parser("chat", help="an interactive session where follow-ups work")
    chat.set_defaults(run=run_chat)
    serve = commands.add_parser("serve", help="run the Telegram bot")
    serve.add_argument("--webhook", metavar="URL", help="run as a webhook at this public URL")
    serve.add_argument("--listen", default="127.0.0.1:8443", help="host:port for the webhook server")
    serve.set_defaults(run=run_serve)
    return parser


def _questions(arguments: list[str]) -> list[str]:
    """The questions given, or read one per line from stdin for `-`."""
    if arguments != ["-"]:
        return arguments
    text = sys.stdin.buffer.read().decode("utf-8", errors="replace")  # bad bytes: not a traceback
    return [line.strip() for line in text.splitlines() if line.strip()]


def run_ask(args: argparse.Namespace, settings: AppSettings) -> int:
    from bot.wiring import make_answerer

    answerer = make_answerer(settings, announce=lambda m: print(m, file=sys.stderr))
    for question in args.questions:
        answer = answerer.answer(question, as_of=args.as_of)
        print(answer.model_dump_json() if args.json else format_text(answer))
    return 0


def run_chat(args: argparse.Namespace, settings: AppSettings) -> int:
    from bot.wiring import make_answerer

    answerer = make_answerer(settings)
    print("Ask about the sources; follow-ups like 'and Ishiba?' work. Empty line or Ctrl-D to quit.")
    previous = None
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            return 0
        if not question:
            return 0
        answer = answerer.answer(question, previous=previous)
        previous = answer.resolved_question or previous
        print(format_text(answer) + "\n")


def run_serve(args: argparse.Namespace, settings: AppSettings) -> int:
    from bot.telegram_app import confirm_token, serve
    from bot.wiring import make_answer_processes, make_answerer

    confirm_token(settings.telegram)  # before loading anything: a bad token is one sentence, at once
    logging.getLogger().setLevel(logging.INFO)
    watch = settings.index.build_settings() if settings.telegram.watch_sources else None
    answerer = make_answerer(settings)
    processes = make_answer_processes(settings)
    try:
        return serve(
            settings.telegram,
            answerer,
            watch=watch,
            webhook_url=args.webhook,
            listen=args.listen,
            processes=processes,
        )
    finally:
        if processes is not None:
            processes.close()


def format_text(answer: Answer) -> str:
    """The answer and a numbered Sources list, for a terminal."""
    lines = [answer.answer]
    if answer.citations and say("quoted_as_written", answer.language):
        lines.append(say("quoted_as_written", answer.language))
    if answer.citations:
        lines.append(f"\n{say('sources', answer.language)}:")
    for c in answer.citations:
        meta = ", ".join(part for part in (c.publisher, c.date, c.url) if part)
        lines.append(f"[{c.n}] {c.title} ({meta}) — {c.source}, chars {c.start}-{c.end}\n    “{c.quote}”")
    return "\n".join(lines)
