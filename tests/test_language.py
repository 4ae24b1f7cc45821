"""Questions in other languages: which language, which question word, the bot's own words."""

from __future__ import annotations

import pytest

from bot.judge.crosslingual import question_word
from bot.language import detect
from bot.messages import MESSAGES, say
from bot.questions import clean_question

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "question, language",
    [
        ("앨버니지 총리는 왜 회의에 불참했나요?", "ko"),
        ("アルバニージー首相はなぜ欠席したのですか？", "ja"),
        ("首相为什么没有参加会议？", "zh"),
        ("Warum fehlte Albanese beim Gipfel?", "de"),
        ("Was tat Trump beim G7-Gipfel?", "de"),
        ("Qui a représenté la Nouvelle-Zélande au sommet ?", "fr"),
        ("Quels pays composent l'IP4 ?", "fr"),
        ("¿Quién ganó la Copa del Mundo?", "es"),
        ("Why did Albanese skip the NATO summit?", "en"),
        ("Was Trump at the G7 in Canada?", "en"),  # "was" is English too
        ("What did René say about the café?", "en"),  # accents in names do not make it French
        ("an die NATO", "de"),
        ("", "en"),
        # The identifier: languages without a function-word list, and ones that share words.
        ("Quién fue a La Haya en lugar de Albanese?", "es"),
        ("Chi è andato all'Aia al posto del primo ministro australiano?", "it"),
        ("Quem foi a Haia no lugar do primeiro-ministro australiano?", "pt"),
        ("Waarom ging Albanese niet naar de NAVO-top?", "nl"),
        ("Was ist in Den Haag passiert?", "de"),
        ("Who represented New Zealand?", "en"),
        ("Albanese summit absence reason?", "en"),
        ("Richard Marles", "en"),  # a bare name is no sign of any language
        ("Jinkx Monsoon?", "en"),
    ],
)
def test_the_language_of_a_question(question, language):
    assert detect(question) == language


@pytest.mark.parametrize(
    "question, language, wh",
    [
        ("호주는 총리 대신 누구를 보냈나요?", "ko", ("who", "")),
        ("한국은 GDP의 몇 퍼센트를 국방비로 쓰나요?", "ko", ("what", "percentage")),
        ("同盟国は何年までに目標を達成しますか？", "ja", ("what", "year")),
        ("Wie viele Sitze hat die Regierung?", "de", ("how many", "")),
        ("Wie viel Prozent gibt Japan aus?", "de", ("what", "percentage")),
        ("Wer vertrat Neuseeland?", "de", ("who", "")),
        ("Qu'a fait Trump au sommet ?", "fr", ("what", "")),
        ("Quelle part du commerce passe par la mer ?", "fr", ("what", "share")),
        ("Pourquoi le Premier ministre a-t-il annulé ?", "fr", ("why", "")),
        ("Sommet de l'OTAN", "fr", ("", "")),
    ],
)
def test_the_question_word_says_what_kind_of_answer_is_wanted(question, language, wh):
    assert question_word(question, language) == wh


def test_every_message_is_written_in_every_language_of_the_catalogue():
    for key, texts in MESSAGES.items():
        assert set(texts) == {"en", "ko", "ja", "de", "fr", "es", "it", "pt", "nl"}, key
    assert say("abstain", "ko") == "자료에는 그에 대한 내용이 없습니다."
    assert say("abstain", "nl") == "De bronnen zeggen het niet."
    assert say("abstain", "sv") == "The sources don't say."  # not in the catalogue: English
    assert "1,200" in say("too_long", "de", length=1200, limit=1000)


def test_a_question_in_any_script_is_kept_and_its_errors_are_in_its_language():
    assert clean_question("  앨버니지 총리는   왜?  ", max_chars=100, language="ko") == "앨버니지 총리는 왜?"
    from bot.errors import BadQuestion

    with pytest.raises(BadQuestion, match="질문을 글로"):
        clean_question("   ", max_chars=100, language="ko")


def test_the_shipped_cross_lingual_judge_loads_and_reports_its_held_out_figures():
    import numpy as np

    from bot.judge.crosslingual import FEATURES, load_crosslingual_model

    model = load_crosslingual_model()
    assert 0.0 < model.threshold < 1.0 and len(model.weights) == len(FEATURES)
    # reported where it was not fitted
    assert set(model.about["report_sets"]) == {"multilingual.jsonl", "multilingual-latin.jsonl"}
    near, far = np.array([[0.9, 0.1, 0.05, 1.0, 0.0, 0.0]]), np.array([[0.6, -0.1, -0.1, 0.0, 0.0, 0.9]])
    assert model.probabilities(near)[0] > model.probabilities(far)[0]
