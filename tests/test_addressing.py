"""Telegram addressing and start-up checks, on PTB's own objects: no server, no model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from telegram import Chat, Message, User

from bot.errors import ConfigError
from bot.settings import TelegramSettings
from bot.telegram_app import SOURCE_LIST_CHARS, TITLE_CHARS, addressed_text, check_token, source_pages
from index.models import Document

pytestmark = pytest.mark.unit

BOT = User(id=42, first_name="Bot", is_bot=True, username="ragbot")
ALICE = User(id=7, first_name="Alice", is_bot=False)
GROUP = Chat(id=-100, type="supergroup")
NOW = datetime(2025, 6, 30, tzinfo=UTC)


def message(text: str | None, chat: Chat = GROUP, reply_to: Message | None = None) -> Message:
    return Message(message_id=1, date=NOW, chat=chat, from_user=ALICE, text=text, reply_to_message=reply_to)


def test_private_messages_are_always_meant_for_the_bot():
    assert addressed_text(message("Who went?", chat=Chat(id=7, type="private")), "ragbot") == "Who went?"


def test_in_groups_only_a_mention_or_a_reply_to_the_bot_is_a_question():
    assert addressed_text(message("Who went?"), "ragbot") is None
    assert addressed_text(message("@RagBot Who went?"), "ragbot") == "Who went?"
    ours = Message(message_id=2, date=NOW, chat=GROUP, from_user=BOT, text="An answer [1]")
    theirs = Message(message_id=3, date=NOW, chat=GROUP, from_user=ALICE, text="chatter")
    assert addressed_text(message("and Ishiba?", reply_to=ours), "ragbot") == "and Ishiba?"
    assert addressed_text(message("and Ishiba?", reply_to=theirs), "ragbot") is None


def test_messages_without_text_are_ignored():
    assert addressed_text(message(None), "ragbot") is None
    assert addressed_text(None, "ragbot") is None


@pytest.mark.parametrize("token, says", [(None, "not set"), ("  ", "not set"), ("not-a-token", "malformed")])
def test_missing_or_malformed_token_is_one_clear_sentence(token, says):
    with pytest.raises(ConfigError, match=says) as error:
        check_token(TelegramSettings(_env_file=None, telegram_bot_token=token))
    assert "not-a-token" not in str(error.value)


def test_a_well_formed_token_is_returned_stripped():
    token = "123456:" + "A" * 35
    assert check_token(TelegramSettings(_env_file=None, telegram_bot_token=f" {token} ")) == token


def test_a_longer_username_that_starts_with_ours_is_not_a_mention():
    assert addressed_text(message("@ragbot_evil Who went?"), "ragbot") is None
    assert addressed_text(message("hey @ragbot: who went?"), "ragbot") == "hey  : who went?"


@pytest.mark.unit
def test_the_source_list_is_cut_into_pages_that_fit_a_message():
    documents = [
        Document(
            id=f"d{i}",
            text="x",
            sha256="0",
            title=f"Brief {i} " + "word " * 40,
            date=f"2025-01-{i % 28 + 1:02d}",
        )
        for i in range(120)
    ]
    pages = source_pages(documents)
    assert len(pages) > 1 and all(sum(len(line) + 1 for line in page) <= SOURCE_LIST_CHARS for page in pages)
    assert sum(len(page) for page in pages) == 120
    assert pages[0][0].startswith("• Brief 27 ")  # newest first


@pytest.mark.unit
def test_a_huge_title_or_url_cannot_blow_up_a_page():
    title, url = "t" * 50_000, "https://example.org/" + "u" * 50_000
    (page,) = source_pages([Document(id="d", text="x", sha256="0", title=title, url=url)])
    assert len(page[0]) < 2 * TITLE_CHARS and "<a href" not in page[0]
