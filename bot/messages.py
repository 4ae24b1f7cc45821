"""The bot's own words in the language of the question: a small catalogue, written, not translated
by a machine. Quotes are never translated: they stay verbatim in the sources' language, and an
answer in another language says so. A language not in the catalogue gets English.
"""

from __future__ import annotations

from datetime import date

from bot.language import ENGLISH

MESSAGES: dict[str, dict[str, str]] = {
    "abstain": {
        "en": "The sources don't say.",
        "ko": "자료에는 그에 대한 내용이 없습니다.",
        "ja": "資料にはその答えが書かれていません。",
        "de": "Die Quellen sagen dazu nichts.",
        "fr": "Les sources ne le disent pas.",
    },
    "closest": {
        "en": "The closest sources: {titles}.",
        "ko": "가장 가까운 자료: {titles}.",
        "ja": "最も近い資料: {titles}。",
        "de": "Die nächstliegenden Quellen: {titles}.",
        "fr": "Les sources les plus proches : {titles}.",
    },
    "sources": {"en": "Sources", "ko": "출처", "ja": "出典", "de": "Quellen", "fr": "Sources"},
    "quoted_as_written": {
        "en": "",
        "ko": "(인용문은 자료의 원문 그대로입니다.)",
        "ja": "（引用は資料の原文のままです。）",
        "de": "(Die Zitate stehen so in den Quellen, in deren Sprache.)",
        "fr": "(Les citations sont reproduites telles quelles, dans la langue des sources.)",
    },
    "no_words": {
        "en": "Please ask a question in words, for example: Why did Albanese skip the NATO summit?",
        "ko": "질문을 글로 적어 주세요. 예: 앨버니지 총리는 왜 나토 정상회의에 불참했나요?",
        "ja": "質問を言葉で書いてください。例：アルバニージー首相はなぜNATO首脳会議を欠席したのですか？",
        "de": "Bitte stellen Sie eine Frage in Worten, zum Beispiel: Warum fehlte Albanese beim NATO-Gipfel?",
        "fr": "Posez une question en mots, par exemple : Pourquoi Albanese a-t-il manqué le sommet "
        "de l'OTAN ?",
    },
    "only_symbols": {
        "en": "I need a question in words to search the sources (emoji and symbols alone don't work).",
        "ko": "자료를 찾으려면 글로 된 질문이 필요합니다 (이모지와 기호만으로는 안 됩니다).",
        "ja": "資料を探すには言葉の質問が必要です（絵文字や記号だけでは探せません）。",
        "de": "Ich brauche eine Frage in Worten (Emojis und Symbole allein reichen nicht).",
        "fr": "J'ai besoin d'une question en mots (des emojis et des symboles seuls ne suffisent pas).",
    },
    "too_long": {
        "en": "That question is {length:,} characters long; please keep it under {limit:,} characters and "
        "ask one thing at a time.",
        "ko": "질문이 {length:,}자입니다. {limit:,}자 이내로 한 번에 하나씩 물어봐 주세요.",
        "ja": "質問が{length:,}文字あります。{limit:,}文字以内で、一度に一つずつ質問してください。",
        "de": "Die Frage ist {length:,} Zeichen lang; bitte bleiben Sie unter {limit:,} Zeichen und fragen "
        "Sie eins nach dem anderen.",
        "fr": "La question fait {length:,} caractères ; restez sous {limit:,} caractères et posez une "
        "question à la fois.",
    },
    "english_only": {
        "en": "This index answers questions in English only; please ask in English.",
        "ko": "이 색인은 영어 질문에만 답합니다. 영어로 물어봐 주세요.",
        "ja": "この索引は英語の質問にのみ答えます。英語で質問してください。",
        "de": "Dieser Index beantwortet nur Fragen auf Englisch; bitte fragen Sie auf Englisch.",
        "fr": "Cet index ne répond qu'aux questions en anglais ; posez-la en anglais, s'il vous plaît.",
    },
    "disagree": {
        "en": "The sources disagree:",
        "ko": "자료마다 답이 다릅니다:",
        "ja": "資料によって答えが異なります：",
        "de": "Die Quellen widersprechen sich:",
        "fr": "Les sources se contredisent :",
    },
    "undated": {"en": "undated", "ko": "날짜 없음", "ja": "日付なし", "de": "ohne Datum", "fr": "sans date"},
    "day": {
        "en": "{d} {month} {y}",
        "ko": "{y}년 {m}월 {d}일",
        "ja": "{y}年{m}月{d}日",
        "de": "{d}. {month} {y}",
        "fr": "{d} {month} {y}",
    },
    "week": {
        "en": "the week of {day}",
        "ko": "{day}부터의 주",
        "ja": "{day}からの週",
        "de": "die Woche ab {day}",
        "fr": "la semaine du {day}",
    },
    "month": {
        "en": "{month} {y}",
        "ko": "{y}년 {m}월",
        "ja": "{y}年{m}月",
        "de": "{month} {y}",
        "fr": "{month} {y}",
    },
    "year": {"en": "{y}", "ko": "{y}년", "ja": "{y}年", "de": "{y}", "fr": "{y}"},
    "help": {
        "en": "Ask a question about the sources, in English or your language. Every sentence of my answer "
        "quotes a source, marked [n]; the Sources below it show the exact passage. If the sources don't "
        'say, I tell you so.\nReply to one of my answers to ask a follow-up ("and Ishiba?"). /sources '
        "lists the documents.",
        "ko": "자료에 대해 한국어나 영어로 질문하세요. 답의 모든 문장은 [n]으로 표시된 출처를 그대로 "
        "인용하며, 자료에 없으면 없다고 말합니다.",
        "ja": "資料について日本語か英語で質問してください。答えの各文は[n]で示した出典をそのまま引用し、"
        "資料に書かれていなければそう伝えます。",
        "de": "Stellen Sie eine Frage zu den Quellen, auf Deutsch oder Englisch. Jeder Satz meiner "
        "Antwort zitiert eine Quelle, markiert mit [n]; steht es nicht in den Quellen, sage ich das.",
        "fr": "Posez une question sur les sources, en français ou en anglais. Chaque phrase de ma "
        "réponse cite une source, marquée [n] ; si les sources ne le disent pas, je le dis.",
    },
}


def say(key: str, language: str = ENGLISH, **values) -> str:
    """The message `key` in `language` (English when the catalogue lacks it), filled in."""
    texts = MESSAGES[key]
    return texts.get(language, texts[ENGLISH]).format(**values)


MONTHS = {
    "en": "January February March April May June July August September October November December",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
}


def say_date(day: date | None, language: str = ENGLISH, precision: str = "day") -> str:
    """A date as the question's language writes it ("30 June 2025", "2025년 6월 30일"); `precision`
    "week", "month" or "year" names the week starting on `day`, its month or its year."""
    if day is None:
        return say("undated", language)
    month = MONTHS.get(language, MONTHS[ENGLISH]).split()[day.month - 1]
    if precision == "week":
        return say("week", language, day=say_date(day, language))
    return say(precision, language, d=day.day, m=day.month, y=day.year, month=month)
