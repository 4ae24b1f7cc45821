"""The Telegram bot end to end: the real PTB Application over HTTP against a local Bot API server."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from bot.answering import Answerer
from bot.settings import TelegramSettings
from evals.fake_botapi import BOT_USER, FakeBotAPI, running_bot

pytestmark = pytest.mark.e2e

TOKEN = "123456:" + "A" * 35


def make_settings(api: FakeBotAPI, tmp_path, **overrides) -> TelegramSettings:
    return TelegramSettings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_api_base=api.base_url,
        feedback_path=tmp_path / "feedback.jsonl",
        **overrides,
    )


@pytest.fixture
def api():
    with FakeBotAPI() as server:
        yield server


def replies_to(api: FakeBotAPI, message_id: int) -> list[dict]:
    return [m for m in api.sent() if reply_id(m) == message_id]


def reply_id(message: dict) -> int | None:
    return (message.get("reply_parameters") or {}).get("message_id")


def test_private_question_is_answered_with_citations_and_buttons(api, answerer, tmp_path):
    update = api.message("Why did Albanese skip the summit?")
    with running_bot(make_settings(api, tmp_path, typing_after_seconds=0), answerer):
        api.inject(update)
        assert api.wait_for(lambda: replies_to(api, update["message"]["message_id"]))
    reply = replies_to(api, update["message"]["message_id"])[0]
    assert reply["parse_mode"] == "HTML" and "[1]" in reply["text"] and "Richard Marles" in reply["text"]
    assert "<blockquote expandable>" in reply["text"] and "Xpert.digital" in reply["text"]
    buttons = reply["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["👍", "👎"]
    assert all(len(b["callback_data"].encode()) < 64 for b in buttons)
    assert {"chat_id": 1001, "action": "typing"}.items() <= api.sent("sendChatAction")[0].items()
    assert [c["command"] for c in api.sent("setMyCommands")[0]["commands"]] == ["start", "help", "sources"]


def test_quick_answers_come_without_typing_but_slow_ones_with_it(api, answerer, tmp_path):
    quick = api.message("Why did Albanese skip the summit?")
    with running_bot(make_settings(api, tmp_path, typing_after_seconds=60), answerer):
        api.inject(quick)
        assert api.wait_for(lambda: replies_to(api, quick["message"]["message_id"]))
    assert api.sent("sendChatAction") == []  # answered well within a minute: no "typing..." flicker


def test_commands_start_help_sources(api, answerer, tmp_path):
    updates = [api.message(text) for text in ("/start", "/help", "/sources")]
    with running_bot(make_settings(api, tmp_path), answerer):
        for count, update in enumerate(updates, 1):  # one at a time: updates are handled concurrently
            api.inject(update)
            assert api.wait_for(lambda count=count: len(api.sent()) >= count)
    start, help_text, sources = (api.sent()[i]["text"] for i in range(3))
    assert "Asan Issue Brief" in start and "2025-06-25" in start and "Why did Albanese skip" in start
    assert "follow-up" in help_text
    assert "The Asan Institute for Policy Studies" in sources and "Xpert.digital" in sources


def test_group_answers_only_mentions_and_replies(api, answerer, tmp_path):
    plain = api.message("Why did Albanese skip the summit?", chat_id=-100, chat_type="supergroup")
    mention = api.message(
        f"@{BOT_USER['username']} Why did Albanese stay away?", chat_id=-100, chat_type="supergroup"
    )
    with running_bot(make_settings(api, tmp_path), answerer):
        api.inject(plain)
        api.inject(mention)
        assert api.wait_for(lambda: replies_to(api, mention["message"]["message_id"]))
        answer = replies_to(api, mention["message"]["message_id"])[0]
        bot_message = {
            "message_id": answer["sent_message_id"],
            "date": 0,
            "chat": {"id": -100, "type": "supergroup"},
            "from": BOT_USER,
            "text": answer["text"],
        }
        follow_up = api.message("and Ishiba?", chat_id=-100, chat_type="supergroup", reply_to=bot_message)
        api.inject(follow_up)
        assert api.wait_for(lambda: replies_to(api, follow_up["message"]["message_id"]))
    assert "Marles" in answer["text"]
    assert replies_to(api, plain["message"]["message_id"]) == []
    assert "Ishiba" in replies_to(api, follow_up["message"]["message_id"])[0]["text"]


def test_feedback_press_is_stored_and_acknowledged(api, answerer, tmp_path):
    update = api.message("What share of GDP does South Korea spend on defence?")
    settings = make_settings(api, tmp_path)
    with running_bot(settings, answerer):
        api.inject(update)
        assert api.wait_for(lambda: replies_to(api, update["message"]["message_id"]))
        reply = replies_to(api, update["message"]["message_id"])[0]
        down = reply["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
        message = {
            "message_id": 9001,
            "date": 0,
            "chat": {"id": 1001, "type": "private"},
            "from": BOT_USER,
            "text": reply["text"],
        }
        api.inject(api.press(message, down))
        assert api.wait_for(lambda: api.sent("answerCallbackQuery") and api.sent("editMessageReplyMarkup"))
    stored = [json.loads(line) for line in settings.feedback_path.read_text(encoding="utf-8").splitlines()]
    assert len(stored) == 1 and stored[0]["vote"] == "down"
    assert stored[0]["question"].startswith("What share of GDP") and stored[0]["index_version"]
    assert any("2.3%" in c["quote"] for c in stored[0]["citations"])
    assert api.sent("answerCallbackQuery")[0]["text"] == "Thanks for the feedback!"
    assert settings.feedback_path.stat().st_mode & 0o777 == 0o600  # ids and questions: private


@pytest.mark.parametrize(
    "failure", [dict(status=429, retry_after=1), dict(status=500, count=2), dict(drop=True)]
)
def test_transient_failures_are_survived_and_delivered_once(api, answerer, tmp_path, failure):
    update = api.message("Who represented New Zealand at the summit?")
    api.fail("sendMessage", **failure)
    with running_bot(make_settings(api, tmp_path), answerer):
        api.inject(update)
        assert api.wait_for(lambda: replies_to(api, update["message"]["message_id"]))
        api.wait_for(lambda: False, timeout=1.0)  # a duplicate would arrive now
    assert len(replies_to(api, update["message"]["message_id"])) == 1


def test_fifty_chats_four_questions_each_answered_once_in_order(api, answerer, tmp_path):
    questions = [
        "Who represented New Zealand at the summit?",
        "What share of GDP does South Korea spend on defence?",
        "Why did Albanese skip the summit?",
        "What is the capital of France?",
    ]
    updates = {chat: [api.message(q, chat_id=chat, user_id=chat) for q in questions] for chat in range(1, 51)}
    with running_bot(make_settings(api, tmp_path), answerer):
        for round_ in range(4):
            for chat in updates:
                api.inject(updates[chat][round_])
        assert api.wait_for(lambda: len(api.sent()) >= 200, timeout=300)
    sent = api.sent()
    assert len(sent) == 200
    for chat, chat_updates in updates.items():
        replied = [reply_id(m) for m in sent if m["chat_id"] == chat]
        assert replied == [u["message"]["message_id"] for u in chat_updates]


def test_unauthorised_user_is_refused_and_nothing_answered(api, answerer, tmp_path):
    update = api.message("Why did Albanese skip the summit?", user_id=666, chat_id=666)
    with running_bot(make_settings(api, tmp_path, allowed_ids=[1001]), answerer):
        api.inject(update)
        assert api.wait_for(lambda: api.sent())
    assert [m["text"] for m in api.sent()] == ["Sorry, this bot is private. Ask its owner to add you."]


def test_rate_limit_replies_slow_down(api, answerer, tmp_path):
    updates = [api.message("Who represented New Zealand at the summit?") for _ in range(3)]
    with running_bot(make_settings(api, tmp_path, rate_limit_per_minute=2), answerer):
        for update in updates:
            api.inject(update)
        assert api.wait_for(lambda: len(api.sent()) >= 3)
    assert sum("faster than I can read" in m["text"] for m in api.sent()) == 1


def test_webhook_rejects_a_forged_secret(api, answerer, tmp_path):
    port = _free_port()
    webhook = dict(
        listen="127.0.0.1",
        port=port,
        url_path="hook",
        webhook_url=f"http://127.0.0.1:{port}/hook",
        secret_token="the-real-secret",
    )
    update = {"update_id": 1, **api.message("Who represented New Zealand at the summit?")}
    with running_bot(make_settings(api, tmp_path), answerer, webhook=webhook):
        forged = httpx.post(
            f"http://127.0.0.1:{port}/hook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
        )
        genuine = httpx.post(
            f"http://127.0.0.1:{port}/hook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": "the-real-secret"},
        )
        assert api.wait_for(lambda: api.sent())
    assert forged.status_code == 403 and genuine.status_code == 200
    assert len(api.sent()) == 1 and api.sent("setWebhook")[0]["secret_token"] == "the-real-secret"


def test_token_never_reaches_the_logs(api, answerer, tmp_path, caplog):
    update = api.message("Who represented New Zealand at the summit?")
    api.fail("sendMessage", status=500)
    with caplog.at_level(logging.DEBUG):
        from bot.telegram_app import quiet_http_logs

        quiet_http_logs()
        with running_bot(make_settings(api, tmp_path), answerer):
            api.inject(update)
            assert api.wait_for(lambda: api.sent())
    assert caplog.records and TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_index_rebuilt_while_running_is_used_for_the_next_answer(api, embedder, fresh_build, tmp_path):
    from index.build import rebuild
    from index.retriever import LiveIndex

    rebuild(fresh_build, embedder)
    live_answerer = Answerer(LiveIndex(fresh_build.index_dir, embedder, check_every=0))
    question = "How many frigates will Australia buy for its navy?"
    first, second = api.message(question), api.message(question)
    with running_bot(make_settings(api, tmp_path), live_answerer):
        api.inject(first)
        assert api.wait_for(lambda: replies_to(api, first["message"]["message_id"]))
        (fresh_build.sources_dir / "frigates.txt").write_text(
            "Frigate plan\n\nAustralia will buy twelve new frigates for its navy over the next decade, "
            "the defence "
            "minister said in Canberra.\n",
            encoding="utf-8",
        )
        rebuild(fresh_build, embedder)  # as `python -m index build` in another process would
        api.inject(second)
        assert api.wait_for(lambda: replies_to(api, second["message"]["message_id"]))
    assert "don't say" in replies_to(api, first["message"]["message_id"])[0]["text"]
    assert "twelve new frigates" in replies_to(api, second["message"]["message_id"])[0]["text"]


def test_sigterm_under_load_loses_and_repeats_nothing(api, seed_build, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import PROJECT

    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": api.base_url,
        "RAGBOT_INDEX_DIR": str(seed_build.index_dir),
        "RAGBOT_SOURCES_DIR": str(seed_build.sources_dir),
        "RAGBOT_FEEDBACK_PATH": str(tmp_path / "feedback.jsonl"),
        "RAGBOT_RATE_LIMIT_PER_MINUTE": "1000",
    }
    questions = ["Who represented New Zealand at the summit?", "Why did Albanese skip the summit?"]
    updates = [api.message(questions[i % 2], chat_id=100 + i % 10, user_id=100 + i % 10) for i in range(30)]
    for update in updates:
        api.inject(update)
    command = [sys.executable, "-m", "bot", "serve"]
    first = subprocess.Popen(command, cwd=PROJECT, env=env, stderr=subprocess.PIPE, text=True)
    assert api.wait_for(lambda: len(api.sent()) >= 3, timeout=120)
    first.send_signal(signal.SIGTERM)
    _, log = first.communicate(timeout=120)
    assert first.returncode == 0, log
    assert TOKEN.split(":")[1] not in log
    second = subprocess.Popen(command, cwd=PROJECT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert api.wait_for(lambda: len(api.sent()) >= 30, timeout=180)
        api.wait_for(lambda: False, timeout=2)  # a repeated answer would arrive now
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=120)
    answered = sorted(reply_id(m) for m in api.sent())
    assert answered == sorted(u["message"]["message_id"] for u in updates)


def test_rejected_html_is_resent_as_plain_text(api, answerer, tmp_path):
    update = api.message("Who represented New Zealand at the summit?")
    api.fail("sendMessage", status=400)  # "can't parse entities", as Telegram says
    with running_bot(make_settings(api, tmp_path), answerer):
        api.inject(update)
        assert api.wait_for(lambda: replies_to(api, update["message"]["message_id"]))
    [reply] = replies_to(api, update["message"]["message_id"])
    assert "parse_mode" not in reply and "Luxon" in reply["text"] and "<blockquote" not in reply["text"]


@pytest.mark.parametrize("status", [401, 404])
def test_a_refused_token_stops_start_up_in_one_sentence_without_the_token(api, seed_build, status):
    import os
    import subprocess
    import sys

    from tests.conftest import PROJECT

    api.fail("getMe", status=status, count=100)
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": api.base_url,
        "RAGBOT_INDEX_DIR": str(seed_build.index_dir),
        "RAGBOT_SOURCES_DIR": str(seed_build.sources_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "refused TELEGRAM_BOT_TOKEN" in result.stderr
    assert TOKEN.split(":")[1] not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_token_revoked_while_running_stops_the_bot_with_exit_1(api, seed_build):
    import os
    import subprocess
    import sys

    from tests.conftest import PROJECT

    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": api.base_url,
        "RAGBOT_INDEX_DIR": str(seed_build.index_dir),
        "RAGBOT_SOURCES_DIR": str(seed_build.sources_dir),
        "RAGBOT_TOKEN_CHECK_SECONDS": "1",
    }
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=PROJECT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert api.wait_for(lambda: api.sent("setMyCommands"), timeout=120)  # up and polling
        api.fail("getMe", status=401, count=10_000)
        api.fail("getUpdates", status=401, count=10_000)
        _, log = bot.communicate(timeout=60)
    finally:
        bot.kill()
    assert bot.returncode == 1
    assert "refused TELEGRAM_BOT_TOKEN" in log and TOKEN.split(":")[1] not in log


def test_a_long_source_list_stays_one_message(api, embedder, fresh_build, tmp_path):
    from index.build import rebuild
    from index.retriever import LiveIndex

    for i in range(150):
        (fresh_build.sources_dir / f"brief-{i:03d}.txt").write_text(
            f"Briefing number {i} on regional defence\n\nBriefing {i} covers naval exercise {i}.\n",
            encoding="utf-8",
        )
    rebuild(fresh_build, embedder)
    first, second = api.message("/sources"), api.message("/sources 2")
    with running_bot(make_settings(api, tmp_path), Answerer(LiveIndex(fresh_build.index_dir, embedder))):
        api.inject(first)
        assert api.wait_for(lambda: api.sent())
        api.inject(second)
        assert api.wait_for(lambda: len(api.sent()) == 2)
    page_one, page_two = (m["text"] for m in api.sent())
    assert all(len(text) <= 4096 for text in (page_one, page_two))
    assert "Page 1 of " in page_one and page_one.endswith("Send /sources 2 for more.")
    assert "Page 2 of " in page_two
    one, two = (
        {line for line in text.splitlines() if line.startswith("• ")} for text in (page_one, page_two)
    )
    assert len(one) > 20 and len(two) > 20 and not one & two  # the next documents, none repeated


def test_an_answer_whose_send_timed_out_is_not_sent_twice(api, answerer, tmp_path):
    update = api.message("Who represented New Zealand at the summit?")
    api.fail("sendMessage", delay=7.0)  # carried out, but after PTB's 5 s read timeout
    with running_bot(make_settings(api, tmp_path), answerer):
        api.inject(update)
        assert api.wait_for(lambda: replies_to(api, update["message"]["message_id"]), timeout=30)
        api.wait_for(lambda: False, timeout=3.0)  # a resent answer or an apology would arrive now
    assert len(api.sent()) == 1 and "Luxon" in api.sent()[0]["text"]


def test_an_update_the_client_cannot_parse_is_skipped_and_polling_goes_on(api, answerer, tmp_path, caplog):
    broken = {"message": {"message_id": "x", "date": "yesterday", "chat": "nowhere", "text": "Secret plans"}}
    update = api.message("Who represented New Zealand at the summit?")
    with running_bot(make_settings(api, tmp_path), answerer):
        api.inject(broken)
        api.inject(update)
        assert api.wait_for(lambda: replies_to(api, update["message"]["message_id"]), timeout=30)
    assert "Secret plans" not in caplog.text  # a message's text never reaches the log
    assert "skipped 1 update(s) the Telegram client could not read: ids [1]" in caplog.text
    assert caplog.text.count("Traceback") <= 1 and len(caplog.records) < 20


def test_a_question_in_korean_gets_the_bots_words_in_korean(api, answerer, tmp_path):
    question = api.message("앨버니지 총리는 왜 나토 정상회의에 불참했나요?")
    helping = api.message("/help")
    helping["message"]["from"]["language_code"] = "de"  # the user's app language
    with running_bot(make_settings(api, tmp_path), answerer):
        api.inject(question)
        api.inject(helping)
        assert api.wait_for(lambda: len(api.sent("sendMessage")) >= 2)
    texts = [m["text"] for m in api.sent("sendMessage")]
    assert any("<b>출처</b>" in t or t.startswith("자료에는 그에 대한 내용이 없습니다.") for t in texts), (
        texts
    )
    assert any("Stellen Sie eine Frage" in t for t in texts), texts
