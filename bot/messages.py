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
        "es": "Las fuentes no lo dicen.",
        "it": "Le fonti non lo dicono.",
        "pt": "As fontes não o dizem.",
        "nl": "De bronnen zeggen het niet.",
    },
    "closest": {
        "en": "The closest sources: {titles}.",
        "ko": "가장 가까운 자료: {titles}.",
        "ja": "最も近い資料: {titles}。",
        "de": "Die nächstliegenden Quellen: {titles}.",
        "fr": "Les sources les plus proches : {titles}.",
        "es": "Las fuentes más cercanas: {titles}.",
        "it": "Le fonti più vicine: {titles}.",
        "pt": "As fontes mais próximas: {titles}.",
        "nl": "De dichtstbijzijnde bronnen: {titles}.",
    },
    "sources": {
        "en": "Sources",
        "ko": "출처",
        "ja": "出典",
        "de": "Quellen",
        "fr": "Sources",
        "es": "Fuentes",
        "it": "Fonti",
        "pt": "Fontes",
        "nl": "Bronnen",
    },
    "quoted_as_written": {
        "en": "",
        "ko": "(인용문은 자료의 원문 그대로입니다.)",
        "ja": "（引用は資料の原文のままです。）",
        "de": "(Die Zitate stehen so in den Quellen, in deren Sprache.)",
        "fr": "(Les citations sont reproduites telles quelles, dans la langue des sources.)",
        "es": "(Las citas se reproducen tal cual, en el idioma de las fuentes.)",
        "it": "(Le citazioni sono riportate così come sono, nella lingua delle fonti.)",
        "pt": "(As citações são reproduzidas tal como estão, na língua das fontes.)",
        "nl": "(De citaten staan er zoals in de bronnen, in hun taal.)",
    },
    "no_words": {
        "en": "Please ask a question in words, for example: Why did Albanese skip the NATO summit?",
        "ko": "질문을 글로 적어 주세요. 예: 앨버니지 총리는 왜 나토 정상회의에 불참했나요?",
        "ja": "質問を言葉で書いてください。例：アルバニージー首相はなぜNATO首脳会議を欠席したのですか？",
        "de": "Bitte stellen Sie eine Frage in Worten, zum Beispiel: Warum fehlte Albanese beim NATO-Gipfel?",
        "fr": "Posez une question en mots, par exemple : Pourquoi Albanese a-t-il manqué le sommet de "
        "l'OTAN ?",
        "es": "Haga una pregunta con palabras, por ejemplo: ¿Por qué Albanese no fue a la cumbre de la OTAN?",
        "it": "Fai una domanda a parole, per esempio: Perché Albanese ha saltato il vertice della NATO?",
        "pt": "Faça uma pergunta com palavras, por exemplo: Por que Albanese não foi à cúpula da OTAN?",
        "nl": "Stel een vraag in woorden, bijvoorbeeld: Waarom sloeg Albanese de NAVO-top over?",
    },
    "only_symbols": {
        "en": "I need a question in words to search the sources (emoji and symbols alone don't work).",
        "ko": "자료를 찾으려면 글로 된 질문이 필요합니다 (이모지와 기호만으로는 안 됩니다).",
        "ja": "資料を探すには言葉の質問が必要です（絵文字や記号だけでは探せません）。",
        "de": "Ich brauche eine Frage in Worten (Emojis und Symbole allein reichen nicht).",
        "fr": "J'ai besoin d'une question en mots (des emojis et des symboles seuls ne suffisent pas).",
        "es": "Necesito una pregunta con palabras para buscar en las fuentes (los emojis y los símbolos "
        "solos no sirven).",
        "it": "Mi serve una domanda a parole per cercare nelle fonti (emoji e simboli da soli non bastano).",
        "pt": "Preciso de uma pergunta com palavras para procurar nas fontes (emojis e símbolos sozinhos "
        "não bastam).",
        "nl": "Ik heb een vraag in woorden nodig om de bronnen te doorzoeken (alleen emoji en symbolen "
        "werken niet).",
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
        "es": "La pregunta tiene {length:,} caracteres; manténgala por debajo de {limit:,} y pregunte una "
        "cosa a la vez.",
        "it": "La domanda è lunga {length:,} caratteri: resta sotto i {limit:,} e chiedi una cosa alla "
        "volta.",
        "pt": "A pergunta tem {length:,} caracteres; mantenha-a abaixo de {limit:,} e pergunte uma coisa "
        "de cada vez.",
        "nl": "De vraag is {length:,} tekens lang; blijf onder de {limit:,} tekens en vraag één ding "
        "tegelijk.",
    },
    "english_only": {
        "en": "This index answers questions in English only; please ask in English.",
        "ko": "이 색인은 영어 질문에만 답합니다. 영어로 물어봐 주세요.",
        "ja": "この索引は英語の質問にのみ答えます。英語で質問してください。",
        "de": "Dieser Index beantwortet nur Fragen auf Englisch; bitte fragen Sie auf Englisch.",
        "fr": "Cet index ne répond qu'aux questions en anglais ; posez-la en anglais, s'il vous plaît.",
        "es": "Este índice solo responde a preguntas en inglés; pregunte en inglés, por favor.",
        "it": "Questo indice risponde solo a domande in inglese; chiedi in inglese, per favore.",
        "pt": "Este índice só responde a perguntas em inglês; pergunte em inglês, por favor.",
        "nl": "Deze index beantwoordt alleen vragen in het Engels; stel je vraag in het Engels.",
    },
    "disagree": {
        "en": "The sources disagree:",
        "ko": "자료마다 답이 다릅니다:",
        "ja": "資料によって答えが異なります：",
        "de": "Die Quellen widersprechen sich:",
        "fr": "Les sources se contredisent :",
        "es": "Las fuentes no coinciden:",
        "it": "Le fonti non concordano:",
        "pt": "As fontes divergem:",
        "nl": "De bronnen spreken elkaar tegen:",
    },
    "undated": {
        "en": "undated",
        "ko": "날짜 없음",
        "ja": "日付なし",
        "de": "ohne Datum",
        "fr": "sans date",
        "es": "sin fecha",
        "it": "senza data",
        "pt": "sem data",
        "nl": "zonder datum",
    },
    "day": {
        "en": "{d} {month} {y}",
        "ko": "{y}년 {m}월 {d}일",
        "ja": "{y}年{m}月{d}日",
        "de": "{d}. {month} {y}",
        "fr": "{d} {month} {y}",
        "es": "{d} de {month} de {y}",
        "it": "{d} {month} {y}",
        "pt": "{d} de {month} de {y}",
        "nl": "{d} {month} {y}",
    },
    "week": {
        "en": "the week of {day}",
        "ko": "{day}부터의 주",
        "ja": "{day}からの週",
        "de": "die Woche ab {day}",
        "fr": "la semaine du {day}",
        "es": "la semana del {day}",
        "it": "la settimana del {day}",
        "pt": "a semana de {day}",
        "nl": "de week van {day}",
    },
    "month": {
        "en": "{month} {y}",
        "ko": "{y}년 {m}월",
        "ja": "{y}年{m}月",
        "de": "{month} {y}",
        "fr": "{month} {y}",
        "es": "{month} de {y}",
        "it": "{month} {y}",
        "pt": "{month} de {y}",
        "nl": "{month} {y}",
    },
    "year": {
        "en": "{y}",
        "ko": "{y}년",
        "ja": "{y}年",
        "de": "{y}",
        "fr": "{y}",
        "es": "{y}",
        "it": "{y}",
        "pt": "{y}",
        "nl": "{y}",
    },
    "help": {
        "en": "Ask a question about the sources, in English or your language. Every sentence of my answer "
        "quotes a source, marked [n]; the Sources below it show the exact passage. If the sources "
        'don\'t say, I tell you so.\nReply to one of my answers to ask a follow-up ("and Ishiba?"). '
        "/sources lists the documents.",
        "ko": "자료에 대해 한국어나 영어로 질문하세요. 답의 모든 문장은 [n]으로 표시된 출처를 그대로 "
        "인용하며, 자료에 없으면 없다고 말합니다.",
        "ja": "資料について日本語か英語で質問してください。答えの各文は[n]で示した出典をそのまま引用し、"
        "資料に書かれていなければそう伝えます。",
        "de": "Stellen Sie eine Frage zu den Quellen, auf Deutsch oder Englisch. Jeder Satz meiner Antwort "
        "zitiert eine Quelle, markiert mit [n]; steht es nicht in den Quellen, sage ich das.",
        "fr": "Posez une question sur les sources, en français ou en anglais. Chaque phrase de ma réponse "
        "cite une source, marquée [n] ; si les sources ne le disent pas, je le dis.",
        "es": "Haga una pregunta sobre las fuentes, en español o en inglés. Cada frase de mi respuesta "
        "cita una fuente, marcada con [n]; si las fuentes no lo dicen, se lo digo.",
        "it": "Fai una domanda sulle fonti, in italiano o in inglese. Ogni frase della mia risposta cita "
        "una fonte, segnata con [n]; se le fonti non lo dicono, te lo dico.",
        "pt": "Faça uma pergunta sobre as fontes, em português ou em inglês. Cada frase da minha resposta "
        "cita uma fonte, marcada com [n]; se as fontes não o dizem, eu digo.",
        "nl": "Stel een vraag over de bronnen, in het Nederlands of in het Engels. Elke zin van mijn "
        "antwoord citeert een bron, gemarkeerd met [n]; staat het niet in de bronnen, dan zeg ik dat.",
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
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
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
