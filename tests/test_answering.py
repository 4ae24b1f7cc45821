"""The answering core on the real seed index: citations, abstention, follow-ups, bad input."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import pytest

from bot.answering import Answerer, without_repeats
from bot.judge.decision import NOTHING_ASKED
from bot.judge.question import parse
from bot.judge.signals import (
    BACKGROUND_RARITY,
    MIN_ENTITY_SHARE,
    entity_share,
    names_in,
    profile_question,
    rarity,
)
from bot.messages import say_date
from bot.models import Answer
from index.build import BuildSettings, rebuild
from index.lexical import term_set
from index.models import Chunk, Hit
from index.retriever import LiveIndex, age_penalty
from index.store import load_snapshot
from tests.conftest import PROJECT

pytestmark = pytest.mark.integration


def assert_quotes_verbatim(answer: Answer, source_dir) -> None:
    for citation in answer.citations:
        text = (source_dir / citation.source).read_text(encoding="utf-8")
        assert text[citation.start : citation.end] == citation.quote
        assert f"[{citation.n}]" in answer.answer


def test_headline_question_cites_domestic_reasons_and_marles(answerer: Answerer, seed_build):
    answer = answerer.answer("Why did Albanese skip the summit?")
    assert not answer.abstained
    quotes = " ".join(c.quote for c in answer.citations)
    assert "Richard Marles" in quotes and "domestic matters" in quotes
    assert all(c.publisher == "Xpert.digital" and c.date == "2025-06-25" for c in answer.citations)
    assert_quotes_verbatim(answer, seed_build.sources_dir)


def test_number_question_cites_the_number(answerer: Answerer, seed_build):
    answer = answerer.answer("What share of GDP does South Korea spend on defence?")
    assert not answer.abstained
    assert any("2.3%" in c.quote for c in answer.citations)
    assert answer.citations[0].title.startswith("Asan Issue Brief")


def test_the_noun_that_names_the_answer_need_not_be_in_the_sources(answerer: Answerer):
    # The release never says "author"; it says who "has published" the brief.
    answer = answerer.answer("Who is the author of the Asan Institute issue brief?")
    assert not answer.abstained and "Kim Saeme" in answer.citations[0].quote
    refused = answerer.answer("What is the name of the hotel the delegates stayed in?")
    assert refused.abstained  # the hotel, which it asks about, is still a noun the sources never use


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "How do I bake sourdough bread?",
        "What share of GDP does Japan spend on defence?",
        "What did Zelensky say at the Hague summit?",
        "How many troops does Australia contribute to NATO missions?",
        "How big is Japan's defence budget in yen?",  # the only number near Japan is a date
        "How many drones did China deliver to Russia?",  # the only number counts years
        # not found by "NATO" alone:
        "When was the NATO–South Korea Defense Industry Consultative Group set up?",
        "Who serves as Australia's foreign minister?",  # the sources name its defence minister
    ],
)
def test_questions_the_sources_do_not_answer_are_abstained(answerer: Answerer, question):
    answer = answerer.answer(question)
    assert answer.abstained and answer.citations == []
    assert answer.answer.startswith("The sources don't say.")


def test_how_many_is_answered_by_a_number_that_counts_the_thing(answerer: Answerer):
    answer = answerer.answer("How many cargo vessels would a war with China in the western Pacific require?")
    assert not answer.abstained
    assert "200 cargo ships" in answer.citations[0].quote


def test_according_to_analysts_prefers_a_reported_view(answerer: Answerer, seed_build):
    def rank_of_analyst(question: str) -> int:
        passages = answerer.answer(question).passages
        texts = [
            (seed_build.sources_dir / p.source).read_text(encoding="utf-8")[p.start : p.end] for p in passages
        ]
        return next(i for i, text in enumerate(texts) if "Johnstone" in text)

    plain = rank_of_analyst("Why did the three Asian heads of state stay away?")
    assert (
        rank_of_analyst("Why, according to analysts, did the three Asian heads of state stay away?") < plain
    )


def test_a_country_is_found_through_its_city(answerer: Answerer):
    answer = answerer.answer("Which Australian minister travelled to the Netherlands for the summit?")
    assert not answer.abstained
    assert "Richard Marles" in answer.citations[0].quote


def test_a_capital_counts_as_its_country_in_a_sentence_but_not_twice(answerer: Answerer):
    retriever = answerer.live_index.retriever()
    washington = profile_question("What worried the European Parliament about Washington?", retriever)
    sentence = term_set("The European Parliament expressed concern about the US government.")
    assert names_in(washington, sentence, retriever) == 2
    seoul = profile_question("What did the protesters in Seoul ask of South Korea's government?", retriever)
    assert names_in(seoul, term_set("South Korea allocates 2.3% of GDP to defense."), retriever) == 1
    assert names_in(seoul, term_set("Protesters in Seoul, South Korea, marched."), retriever) == 2


def test_a_name_of_common_words_is_found_only_as_the_phrase(answerer: Answerer):
    retriever = answerer.live_index.retriever()
    profile = profile_question("Which two teams played in this year's World Series?", retriever)
    assert profile.phrases == {("world", "seri")}
    assert entity_share(profile, "The World Series went to seven games.", retriever) == 1.0
    assert entity_share(profile, "The world watched. The series went to seven games.", retriever) == 0.0


def test_a_name_most_passages_write_counts_only_where_it_is_written(answerer: Answerer):
    retriever = answerer.live_index.retriever()
    profile = profile_question("What did NATO decide about Albanese?", retriever)
    nato, albanese = profile.entities
    assert rarity(nato, retriever) < BACKGROUND_RARITY <= rarity(albanese, retriever)
    assert entity_share(profile, "Albanese stayed at home.", retriever) == 1.0
    assert entity_share(profile, "NATO met in The Hague.", retriever) < MIN_ENTITY_SHARE


def test_the_country_after_a_place_is_a_word_of_the_question_not_a_name_to_find(answerer: Answerer):
    retriever = answerer.live_index.retriever()
    masters = profile_question("Which golfer led in Augusta, Georgia, this week?", retriever)
    assert ("augusta",) in masters.entities and ("georgia",) not in masters.entities
    assert "georgia" in masters.terms
    listed = profile_question("What did Albanese, Marles and Rutte agree on?", retriever)
    assert ("marl",) in listed.entities


def test_every_quote_is_verbatim_at_its_offsets(answerer: Answerer, seed_build):
    questions = [json.loads(line)["question"] for line in (PROJECT / "evals" / "questions.jsonl").open()]
    snapshot = load_snapshot(seed_build.index_dir)
    cited = 0
    for question in questions:
        answer = answerer.answer(question)
        for c in answer.citations:
            assert snapshot.documents[c.source].text[c.start : c.end] == c.quote
        assert_quotes_verbatim(answer, seed_build.sources_dir)
        cited += len(answer.citations)
    assert cited > 40


def test_follow_up_is_resolved_against_the_previous_question(answerer: Answerer):
    first = answerer.answer("Why did Albanese stay away?")
    follow_up = answerer.answer("and Ishiba?", previous=first.resolved_question)
    assert follow_up.resolved_question == "Why did Ishiba stay away?"
    assert not follow_up.abstained
    assert any("Ishiba" in c.quote or "Trump" in c.quote for c in follow_up.citations)


def test_a_pronoun_follow_up_keeps_the_previous_topic(answerer: Answerer):
    first = answerer.answer("What share of GDP does South Korea spend on defence?")
    follow_up = answerer.answer("and what will it face next?", previous=first.resolved_question)
    assert follow_up.resolved_question == "what will South Korea face next?"
    assert follow_up.topic == first.resolved_question
    assert any("pressure to increase" in c.quote for c in follow_up.citations)


@pytest.mark.parametrize(
    "question, expected",
    [
        ("", "Please ask a question in words"),
        ("   \n\t ", "Please ask a question in words"),
        ("why " * 5000, "20,000 characters long"),
        ("🙂🎉🔥", "emoji and symbols alone"),
    ],
)
def test_bad_input_gets_a_short_clear_reply(answerer: Answerer, question, expected):
    answer = answerer.answer(question)
    assert answer.abstained and answer.problem and expected in answer.answer
    assert len(answer.answer) < 200


@pytest.mark.parametrize(
    "question, names, words",
    [
        ("Which US state announced plans to build a nuclear plant?", [], ["america", "state"]),
        ("The US proposed a deal over which Ukrainian region?", [("america",)], ["ukrain", "region"]),
        ("Why did Albanese skip the summit?", [("albanes",)], ["skip", "summit"]),
    ],
)
def test_a_name_between_which_and_the_noun_asked_is_a_word_of_the_question_not_a_name_to_find(
    answerer: Answerer, question, names, words
):
    profile = profile_question(question, answerer.live_index.retriever())
    assert list(profile.entities) == names and set(words) <= set(profile.terms)


@pytest.mark.parametrize(
    "question, focus",
    [
        ("Which automaker has overtaken Tesla?", "automaker"),
        ("Tesla has struck a deal with which electronics giant to make its chips?", "giant"),
        ("The NHS has begun a rollout of a vaccine for which sexually transmitted disease?", "disease"),
        ("This week saw a new game in which popular first-person shooter franchise?", "franchise"),
        ("What recently caused disruptions at European airports?", ""),
    ],
)
def test_the_noun_a_question_asks_about_is_found_where_the_question_asks_it(question, focus):
    assert parse([question])[0].focus == focus


def test_markup_in_the_question_is_not_echoed(answerer: Answerer):
    answer = answerer.answer("<script>alert(1)</script> **Why** did _Albanese_ skip the summit?")
    assert "<script>" not in answer.answer and "alert(1)" not in answer.answer
    assert not answer.abstained and "Albanese" in answer.resolved_question


@pytest.mark.parametrize("question", ["and ?", "what are they?"])
def test_a_question_with_nothing_to_look_for_is_refused_with_its_reason(answerer: Answerer, question):
    answer = answerer.answer(question)
    assert answer.abstained and not answer.citations
    assert answer.abstain_reasons == {NOTHING_ASKED: 1}


def test_every_answer_says_how_sure_it_is_and_every_refusal_why(answerer: Answerer):
    answered = answerer.answer("What share of GDP does South Korea spend on defence?")
    refused = answerer.answer("What is the population of Seoul?")
    assert not answered.abstained and refused.abstained
    assert 0.0 < refused.confidence < answered.confidence <= 1.0
    assert sum(refused.abstain_reasons.values()) >= 1 and not answered.abstain_reasons


def test_an_abbreviated_title_is_found_written_out(answerer: Answerer):
    answer = answerer.answer("who went to the hague for australia instead of the PM")  # "Prime Minister"
    assert not answer.abstained and "Richard Marles" in answer.citations[0].quote


def test_a_question_in_korean_finds_the_english_passage_and_answers_in_korean(answerer: Answerer):
    answer = answerer.answer(
        "세계 무역의 몇 퍼센트가 바다를 통해 이루어지나요?"
    )  # "what share of trade goes by sea"
    assert answer.language == "ko"
    top = [p.source for p in answer.passages[:5]]
    assert "xpert-nato-summit-asian-partners-stay-away.txt" in top
    if answer.abstained:  # the bot's own words in Korean, the sources' titles as they are
        assert answer.answer.startswith("자료에는 그에 대한 내용이 없습니다.")
    else:  # quotes stay verbatim English
        assert all(c.quote.isascii() for c in answer.citations)


def test_an_index_without_multilingual_vectors_says_so_in_the_question_language(tmp_path, embedder):
    import shutil

    from index.build import BuildSettings, rebuild
    from index.retriever import LiveIndex
    from tests.conftest import SEED_SOURCES

    shutil.copytree(SEED_SOURCES, tmp_path / "sources")
    english_only = BuildSettings(tmp_path / "sources", tmp_path / "index", multilingual=False)
    rebuild(english_only, embedder)
    answer = Answerer(LiveIndex(english_only.index_dir, embedder)).answer(
        "Wer vertrat Neuseeland beim Gipfel?"
    )
    assert answer.abstained and answer.problem and "nur Fragen auf Englisch" in answer.answer
    turned_on = rebuild(BuildSettings(tmp_path / "sources", tmp_path / "index"), embedder)
    assert turned_on.embedded_chunks == 0 and turned_on.embedded_sentences == 0  # only the new vectors
    assert LiveIndex(english_only.index_dir, embedder).retriever().multilingual


def test_an_irregular_verb_in_the_question_meets_its_past_form_in_the_source(answerer: Answerer):
    answer = answerer.answer("Who did Australia send to the NATO summit?")  # the source: "instead sent"
    assert not answer.abstained and "Richard Marles" in answer.citations[0].quote


def test_every_answer_states_its_sources_dates_and_none_is_later_than_asked(answerer: Answerer):
    answer = answerer.answer("What did NATO members agree to spend?", as_of=date(2025, 7, 1))
    assert not answer.abstained and answer.as_of == "2025-07-01"
    for citation in answer.citations:
        assert citation.published is not None and citation.published <= date(2025, 7, 1)
        assert say_date(citation.published) in answer.answer
    before_asan = answerer.answer("What did NATO members agree to spend?", as_of=date(2025, 6, 28))
    assert {c.source for c in before_asan.citations} == {"xpert-nato-summit-asian-partners-stay-away.txt"}


def test_the_search_leaves_out_sources_published_after_the_reference_date(answerer: Answerer):
    retriever = answerer.live_index.retriever()
    for mode in ("hybrid", "dense", "lexical"):
        everything = retriever.search("NATO summit spending", k=20, mode=mode)
        assert {h.chunk.doc_id for h in everything} == {
            "asan-managing-decline-nato-2025.txt",
            "xpert-nato-summit-asian-partners-stay-away.txt",
        }
        early = retriever.search("NATO summit spending", k=20, mode=mode, published_by=date(2025, 6, 28))
        assert early and {h.chunk.doc_id for h in early} == {"xpert-nato-summit-asian-partners-stay-away.txt"}


def test_of_two_sources_telling_a_story_alike_the_newer_comes_first(tmp_path, embedder):
    sources = tmp_path / "sources"
    sources.mkdir()
    story = "The harbour festival opened on Saturday with a parade led by the mayor, {}, and a regatta."
    for name, day, mayor in (("old", "2015-05-02", "Anna Berg"), ("new", "2025-05-03", "Jonas Lind")):
        (sources / f"{name}.txt").write_text(story.format(mayor), encoding="utf-8")
        (sources / f"{name}.txt.meta.toml").write_text(f'title = "Festival"\ndate = "{day}"\n')
    settings = BuildSettings(sources, tmp_path / "index")
    rebuild(settings, embedder)
    retriever = LiveIndex(settings.index_dir, embedder).retriever()
    question = "Who led the parade when the harbour festival opened?"
    plain = {h.chunk.doc_id: h.score for h in retriever.search(question, k=2)}
    fresher = retriever.search(question, k=2, fresher=date(2025, 6, 1))
    assert [h.chunk.doc_id for h in fresher] == ["new.txt", "old.txt"]
    for hit in fresher:  # the retrieval score less the source's age penalty, nothing else
        published = retriever.document(hit.chunk.doc_id).published
        penalty = age_penalty(np.array([published.toordinal()]), date(2025, 6, 1))[0]
        assert hit.score == pytest.approx(plain[hit.chunk.doc_id] - penalty)
    in_2015 = Answerer(LiveIndex(settings.index_dir, embedder)).answer(
        "Who led the parade when the harbour festival opened in 2015?", as_of=date(2025, 6, 1)
    )
    assert in_2015.question_time == "period" and in_2015.passages[0].source == "old.txt"


def test_a_question_is_encoded_alike_whatever_is_asked_at_the_same_time(answerer: Answerer):
    """A busy bot must give a question the answer it gives it alone: its vector may not depend on the
    questions of other chats (the int8 encoder quantizes a batch with one scale)."""
    retriever = answerer.live_index.retriever()
    questions = [json.loads(line)["question"] for line in (PROJECT / "evals/questions.jsonl").open()][:16]
    alone = [retriever.embed_query(q) for q in questions]
    start = threading.Barrier(len(questions))

    def at_once(question: str) -> np.ndarray:
        start.wait()
        return retriever.embed_query(question)

    with ThreadPoolExecutor(len(questions)) as pool:
        together = list(pool.map(at_once, questions))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together))


def _passage(doc: str, start: int, end: int) -> Hit:
    chunk = Chunk(
        id=f"{doc}-{start}",
        doc_id=doc,
        heading="",
        start=start,
        end=end,
        text="x" * (end - start),
        sentences=(),
    )
    return Hit(chunk=chunk, score=1.0, dense=1.0, lexical=1.0)


def test_a_passage_whose_text_is_all_listed_above_is_not_listed_again():
    ranked = [
        (_passage("a", 0, 800), 2.0),
        (_passage("a", 100, 700), 1.9),
        (_passage("a", 0, 800), 1.8),
        (_passage("a", 600, 1400), 1.7),
        (_passage("b", 0, 800), 1.6),
        (_passage("a", 300, 1200), 1.5),
    ]
    kept = [(hit.chunk.doc_id, hit.chunk.start, hit.chunk.end) for hit, _ in without_repeats(ranked)]
    # Partly new text stays (600-1400 brings 800-1400); the same span in another document stays; what
    # lies wholly inside the text above goes, also when it is covered by two passages together.
    assert kept == [("a", 0, 800), ("a", 600, 1400), ("b", 0, 800)]
