"""Hostile questions and hostile source files from a seeded generator, until the time is spent.

Questions: every one gets an answer (a refusal is an answer; an exception is an answer lost), within
`SLOW_QUESTION` seconds, whose Telegram messages fit Telegram's limit, use only the tags the formatter
writes, and quote their sources verbatim.
Sources: every file is indexed or skipped with a reason, the build finishes, the probes keep their
answers, and nothing a file links to outside the folder (the fake token) reaches the index.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from bot.formatting import TELEGRAM_LIMIT, to_plain_text, to_telegram_html
from evals.faults.workspace import Part, Workspace, timed
from index.build import rebuild

SLOW_QUESTION = 10.0  # seconds
SLOW_BUILD = 120.0  # seconds for one batch of hostile files
TELEGRAM_TAGS = {"a", "b", "blockquote", "i"}
# Words far from the seeds' topics: hostile files test the build, not retrieval among near-duplicates.
WORDS = "the river garden said weather market train village school harvest".split()
ALPHABETS = [
    (0x20, 0x7E),  # ASCII
    (0x00, 0x1F),  # control characters
    (0x400, 0x4FF),  # Cyrillic
    (0x4E00, 0x4FFF),  # CJK
    (0xAC00, 0xAD00),  # Hangul
    (0x600, 0x6FF),  # Arabic
    (0x1F600, 0x1F64F),  # emoji
    (0x300, 0x36F),  # combining marks
    (0x200B, 0x202E),  # zero-width characters and bidirectional overrides
    (0xD800, 0xDFFF),  # lone surrogates: not valid in UTF-8 at all
]


# --- questions ---------------------------------------------------------------------------------


def random_text(rng: random.Random, length: int) -> str:
    low, high = rng.choice(ALPHABETS)
    return "".join(chr(rng.randint(low, high)) for _ in range(length))


def hostile_question(rng: random.Random, probes: list[str]) -> str:
    """One question from one of several families of hostile input."""
    base = rng.choice(probes)
    family = rng.randrange(9)
    if family == 0:
        return random_text(rng, rng.choice([1, 5, 40, 300, 5000]))
    if family == 1:  # a real question, damaged
        chars = list(base)
        for _ in range(rng.randint(1, 6)):
            chars[rng.randrange(len(chars))] = rng.choice("?!.,;:'\"<>&[]{}()*_~`|\\/ ")
        return "".join(chars)
    if family == 2:  # markup meant for the formatter
        return rng.choice(
            [
                f"{base} <script>alert(1)</script>",
                f"</blockquote><a href='javascript:alert(1)'>{base}</a>",
                f"{base} [1] [2] [99] *bold* _it_ `code`",
                f"<b>{base}",
            ]
        )
    if family == 3:  # format strings, paths, shell, SQL
        return rng.choice(["%s %n %x {0} {{}} ${HOME}", "../../../../etc/passwd", "'; DROP TABLE x; --"])
    if family == 4:  # a question repeated until it is huge
        return (base + " ") * rng.choice([10, 200, 20_000])
    if family == 5:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))) + "?"
    if family == 6:  # a real question wrapped in terminal escapes and invisible characters
        return f"\x1b[2J\u202e{base}\u200b\x00"
    if family == 7:
        return rng.choice(["", " ", "?", "and ?", "what are they?", "\n\n\n", "🙂" * 50])
    return f"{base} {random_text(rng, rng.randint(1, 30))}"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tags.add(tag)
        self.tags.update(
            f"{tag}[{name}={value}]"
            for name, value in attrs
            if name == "href" and value and (not value.startswith(("http://", "https://")))
        )


def fuzz_questions(work: Workspace, rng: random.Random, budget: float) -> Part:
    part, started = Part("fuzz-questions"), time.perf_counter()
    answerer = work.answerer()
    probes = [p.question for p in work.probes] or ["Who attended the summit?"]
    while time.perf_counter() - started < budget:
        question = hostile_question(rng, probes)
        part.inputs += 1
        asked = time.perf_counter()
        try:
            answer = answerer.answer(question)
            messages = to_telegram_html(answer) + to_plain_text(answer)
        except Exception as exc:  # the product must never raise on a question
            part.answers_lost += 1
            part.problems.append(f"{question[:60]!r} raised {exc.__class__.__name__}: {str(exc)[:120]}")
            continue
        took = time.perf_counter() - asked
        if took > SLOW_QUESTION:
            part.problems.append(f"{question[:60]!r} took {took:.1f} s")
        part.problems.extend(_message_problems(question, messages))
        part.problems.extend(_quote_problems(answerer, question, answer.citations))
        part.secrets_leaked += work.leaks_in(*messages)
    part.answers_lost += work.lost(answerer)
    return timed(part, started)


def _message_problems(question: str, messages: list[str]) -> list[str]:
    problems = []
    for text in messages:
        if not text.strip() or len(text) > TELEGRAM_LIMIT:
            problems.append(f"{question[:60]!r}: a message of {len(text)} characters")
    parser = _Tags()
    parser.feed(messages[0] if messages else "")
    strange = parser.tags - TELEGRAM_TAGS
    if strange:
        problems.append(f"{question[:60]!r}: markup the formatter never writes: {sorted(strange)[:3]}")
    return problems


def _quote_problems(answerer, question: str, citations) -> list[str]:
    retriever = answerer.live_index.retriever()
    return [
        f"{question[:60]!r}: citation [{c.n}] is not a verbatim span of {c.source}"
        for c in citations
        if retriever.document(c.source).text[c.start : c.end] != c.quote
    ]


# --- source files ------------------------------------------------------------------------------


def pdf_file(content: bytes) -> bytes:
    """A minimal one-page PDF whose page draws `content` (a content stream) in Helvetica."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


NESTED_ARRAYS_PDF = pdf_file(b"BT /F1 12 Tf " + b"[" * 50_000 + b"(a)" + b"]" * 50_000 + b" TJ ET")


def _prose(rng: random.Random, sentences: int) -> str:
    return " ".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 25))).capitalize() + "."
        for _ in range(sentences)
    )


def hostile_files(rng: random.Random, folder: Path, secret_file: Path) -> list[str]:
    """Write one batch of hostile sources into `folder`; return the names written."""
    makers: list[Callable[[], tuple[str, bytes]]] = [
        lambda: ("random.txt", rng.randbytes(rng.randint(1, 20_000))),
        lambda: ("unicode.md", random_text(rng, 3000).encode("utf-8", "replace")),
        lambda: ("quote.txt", ('He said "no. ' + _prose(rng, 400)).encode()),
        lambda: ("one-line.txt", ("word " * 20_000).encode()),
        lambda: ("deep.html", b"<html><body>" + b"<div>" * 5000 + _prose(rng, 20).encode() + b"</div>" * 10),
        lambda: ("script.html", b"<html><script>" + b"x=1;" * 50_000 + b"</script></html>"),
        lambda: ("nested.pdf", NESTED_ARRAYS_PDF),
        lambda: (
            "cut.pdf",
            pdf_file(b"BT /F1 12 Tf 72 700 Td (Frigate budget) Tj ET")[: rng.randint(10, 400)],
        ),
        lambda: ("text.pdf", pdf_file(b"BT /F1 12 Tf 72 700 Td (The frigate budget grew.) Tj ET")),
        lambda: ("bom-crlf.txt", b"\xef\xbb\xbf" + _prose(rng, 30).replace(". ", ".\r\n").encode()),
        lambda: ("empty.md", b""),
        lambda: ("weird name -dash ünï 😀.txt", _prose(rng, 5).encode()),
    ]
    names = []
    for make in makers:
        name, data = make()
        (folder / name).write_bytes(data)
        names.append(name)
    meta_target = rng.choice(names)
    (folder / f"{meta_target}.meta.toml").write_bytes(
        rng.choice([rng.randbytes(200), b'url = "javascript:alert(1)"\ndate = 12\ntitle = ["x"]\n'])
    )
    (folder / "private.txt").symlink_to(secret_file)  # a link out of the folder, to the token
    (folder / "linked-dir").symlink_to(secret_file.parent, target_is_directory=True)
    os.close(os.open(bytes(folder) + b"/\xff\xfe-not-utf8.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    return names + ["private.txt", "linked-dir", r"\udcff\udcfe-not-utf8.txt"]  # as the report escapes it


def fuzz_sources(work: Workspace, rng: random.Random, budget: float) -> Part:
    part, started = Part("fuzz-sources"), time.perf_counter()
    secret_file = work.root / "outside" / ".env"
    secret_file.parent.mkdir(exist_ok=True)
    secret_file.write_text(f"TELEGRAM_BOT_TOKEN={work.secret}\n", encoding="utf-8")
    batch = 0
    while batch == 0 or time.perf_counter() - started < budget:
        folder = work.sources / f"fuzz-{batch}"
        folder.mkdir()
        names = hostile_files(rng, folder, secret_file)
        part.inputs += len(names)
        _build_batch(work, part, folder, names)
        shutil.rmtree(folder)  # links are removed, never followed
        batch += 1
    rebuild(work.build_settings, work.embedder)
    part.answers_lost += work.lost(work.answerer())
    return timed(part, started)


def _build_batch(work: Workspace, part: Part, folder: Path, names: list[str]) -> None:
    built = time.perf_counter()
    try:
        report = rebuild(work.build_settings, work.embedder)
    except Exception as exc:  # the build must survive any file
        part.problems.append(f"a build over hostile files raised {exc.__class__.__name__}: {exc}")
        return
    took = time.perf_counter() - built
    if took > SLOW_BUILD:
        part.problems.append(f"a batch of {len(names)} hostile files took {took:.0f} s to build")
    prefix = folder.name + "/"
    seen = {d[len(prefix) :] for d in report.added + report.updated if d.startswith(prefix)}
    seen |= {s["path"][len(prefix) :] for s in report.skipped if s["path"].startswith(prefix)}
    unaccounted = [n for n in names if n not in seen]
    if unaccounted:
        part.problems.append(f"files neither indexed nor skipped: {unaccounted}")
    part.secrets_leaked += work.leaks_in_index()
    part.answers_lost += work.lost(work.answerer())
