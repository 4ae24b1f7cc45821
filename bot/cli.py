"""`python -m bot ask|chat|serve`: the answering core on the command line, and the Telegram bot."""

from __future__ import annotations

import argparse
import logging
import sys

from bot.answering import Answerer, AnswerOptions
from bot.errors import BotError
from bot.models import Answer
from index.build import rebuild
from index.cli import run_subcommand
from index.config import Settings
from index.errors import IndexStoreError
from index.retriever import LiveIndex
from index.status import index_status


def main(argv: list[str] | None = None) -> int:
    return run_subcommand(_parser().parse_args(argv), (IndexStoreError, BotError))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")
    ask = commands.add_parser("ask", help="answer questions (use - to read them from stdin)")
    ask.add_argument("questions", nargs="+")
    ask.add_argument("--json", action="store_true", help="one JSON object per question, one per line")
    ask.set_defaults(run=run_ask)
    chat = commands.add_parser("chat", help="an interactive session where follow-ups work")
    chat.set_defaults(run=run_chat)
    serve = commands.add_parser("serve", help="run the Telegram bot")
    serve.add_argument("--webhook", metavar="URL", help="run as a webhook at this public URL")
    serve.add_argument("--listen", default="127.0.0.1:8443", help="host:port for the webhook server")
    serve.set_defaults(run=run_serve)
    return parser


def make_answerer(settings: Settings, announce=print) -> Answerer:
    """Build (or bring up to date) the index if needed, then an `Answerer` over it."""
    embedder = settings.embedder()
    status = index_status(settings.build_settings())
    if status.stale:
        announce("Building the index (first use)..." if status.version is None else "Sources changed; updating the index...")
        report = rebuild(settings.build_settings(), embedder)
        for skipped in report.skipped:
            announce(f"skipped {skipped['path']}: {skipped['reason']}")
    options = AnswerOptions(top_k=settings.top_k, max_question_chars=settings.max_question_chars)
    return Answerer(LiveIndex(settings.index_dir, embedder), options, generator=make_generator(settings))


def make_generator(settings: Settings):
    """The language-model client when `RAGBOT_LLM_BASE_URL` and `RAGBOT_LLM_MODEL` are set, else None."""
    if not (settings.llm_base_url and settings.llm_model):
        return None
    from bot.generative import ChatClient

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return ChatClient(settings.llm_base_url, settings.llm_model, key, settings.llm_timeout)


def run_ask(args, settings: Settings) -> int:
    questions = args.questions
    if questions == ["-"]:
        questions = [line.strip() for line in sys.stdin if line.strip()]
    answerer = make_answerer(settings, announce=lambda m: print(m, file=sys.stderr))
    for question in questions:
        answer = answerer.answer(question)
        print(answer.model_dump_json() if args.json else format_text(answer))
    return 0


def run_chat(args, settings: Settings) -> int:
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


def run_serve(args, settings: Settings) -> int:
    from bot.telegram_app import check_token, serve

    check_token(settings)  # before loading anything: a missing token is one sentence, at once
    logging.getLogger().setLevel(logging.INFO)
    return serve(settings, make_answerer(settings), webhook_url=args.webhook, listen=args.listen)


def format_text(answer: Answer) -> str:
    """The answer and a numbered Sources list, for a terminal."""
    lines = [answer.answer]
    if answer.citations:
        lines.append("\nSources:")
    for c in answer.citations:
        meta = ", ".join(part for part in (c.publisher, c.date, c.url) if part)
        lines.append(f"[{c.n}] {c.title} ({meta}) — {c.source}, chars {c.start}-{c.end}\n    “{c.quote}”")
    return "\n".join(lines)
