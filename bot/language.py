"""Which language a question is in, for the encoder that searches it and the words the bot answers
with. The script decides for Korean, Japanese, Chinese, Cyrillic, Arabic, ...; among Latin-script
languages a character n-gram identifier (langid.py's model, from the PyPI package `py3langid`,
BSD-3) does, limited to the Latin-script languages the multilingual encoder reads well. A question
whose words are plainly English ("why", "did", "the", none of another language's function words)
skips it: loading its model takes about half a second, and most questions are English.

The function words alone, as before, got 9 of 36 Spanish, Italian, Portuguese and Dutch questions
right (Italian read as French, Dutch as English); the identifier gets 36 of 36 and sends none of 2,303
English questions (the eval sets, RealTime QA dev, 2,000 of SQuAD's) elsewhere, even at the lowest
confidence it is allowed (`MIN_CONFIDENCE`). Anything not recognised is English, the sources'.
"""

from __future__ import annotations

import re
import threading
import unicodedata

ENGLISH = "en"
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# Words frequent in questions of each language and rare in English questions.
FUNCTION_WORDS = {
    "de": set(
        "der die das und ist sind wer wie warum wieso weshalb wann wo welche welcher welches viele hat "
        "haben nicht auf für mit dem den des ein eine einer zum zur im beim vom sich auch wurde wird "
        "seine ihre gibt bis nach über laut was an".split()
    ),
    "fr": set(
        "le la les des du un une est qui que quoi pourquoi quand où quel quelle quels quelles combien "
        "comment pour dans sur au aux avec pas il elle ils elles a-t-il a-t-elle ont sont ce cette "
        "lequel laquelle d'ici qu'a qu'est-ce".split()
    ),
    "es": set(
        "el los las del una es quién qué por cuándo dónde cuál cuántos cuántas cómo para con según".split()
    ),
}
# The Latin-script languages the identifier chooses among: more would let it take short English
# questions for languages nobody asks in.
LATIN_LANGUAGES = "en de fr es it pt nl sv da no fi pl cs sk hu ro tr id ms vi ca hr sl et lv lt".split()
MIN_CONFIDENCE = 0.5  # below it, the function words decide
_LOCK = threading.Lock()
_IDENTIFIER = None
ACCENTS = {"de": "äöüß", "fr": "éèêàçùûôîœë", "es": "ñ¿¡áíóú"}
SCRIPTS = (
    ("HANGUL", "ko"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("CJK", "zh"),
    ("CYRILLIC", "ru"),
    ("ARABIC", "ar"),
    ("HEBREW", "he"),
    ("DEVANAGARI", "hi"),
    ("THAI", "th"),
    ("GREEK", "el"),
)


def detect(text: str) -> str:
    """An ISO 639-1 code: "en" unless the script or the function words say otherwise."""
    script = _script(text)
    if script:
        return script
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return ENGLISH
    scores = {lang: _score(words, text, lang) for lang in FUNCTION_WORDS}
    lang, score = max(scores.items(), key=lambda item: item[1])
    english = sum(w in _ENGLISH and w not in FUNCTION_WORDS[lang] for w in words)
    if score == 0 and english >= 2 and english * 3 >= len(words):
        return ENGLISH
    identified, confidence = _identifier().classify(text)
    if confidence >= MIN_CONFIDENCE:
        return identified
    return lang if score >= 1 and score > english else ENGLISH


def _identifier():
    """The identifier, loaded at its first use (about half a second), once for all threads."""
    global _IDENTIFIER
    if _IDENTIFIER is None:
        with _LOCK:
            if _IDENTIFIER is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                identifier.set_languages(LATIN_LANGUAGES)
                _IDENTIFIER = identifier  # published only once it is ready
    return _IDENTIFIER


def _score(words: list[str], text: str, lang: str) -> int:
    """Function words of `lang` that are not also English ("was", "an"), plus one for its accents."""
    vocabulary = FUNCTION_WORDS[lang]
    own = sum(w in vocabulary and w not in _ENGLISH for w in words)
    return own + any(ch in ACCENTS[lang] for ch in text.lower())


_ENGLISH = set(
    "the a an of to in on for and is are was were did does do who what why when where which how many "
    "much with by at from about has have had its his her their it that this".split()
)


def _script(text: str) -> str | None:
    """The language a non-Latin script stands for, when most letters are in it; Japanese text mixes
    kanji (CJK) with kana, so any kana makes it Japanese."""
    letters = [unicodedata.name(ch, "") for ch in text if ch.isalpha()]
    if not letters:
        return None
    found: dict[str, int] = {}
    for name in letters:
        for prefix, lang in SCRIPTS:
            if name.startswith(prefix):
                found[lang] = found.get(lang, 0) + 1
                break
    if "ja" in found:
        return "ja"
    if not found:
        return None
    lang, count = max(found.items(), key=lambda item: item[1])
    return lang if count >= len(letters) / 2 else None
