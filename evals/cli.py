"""`python -m evals <command>`: measure the bot (run, squad, fitting, peers, bench, faults)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.wiring import AppSettings
from evals.errors import EvalError
from evals.settings import EvalSettings
from index.cli import run_subcommand
from index.errors import IndexStoreError

DEFAULT_OUT = Path("evals/out")


def main(argv: list[str] | None = None) -> int:
    return run_subcommand(_parser().parse_args(argv), (EvalError, IndexStoreError), AppSettings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")
    run = commands.add_parser("run", help="run the eval set, write reports, apply the gate")
    run.add_argument("--cases", type=Path, default=None, help="eval file (default: evals/questions.jsonl)")
    run.add_argument("--out", type=Path, default=DEFAULT_OUT)
    run.add_argument("--composer", choices=["extractive", "generative"], default="extractive")
    run.set_defaults(run=run_evals)
    squad = commands.add_parser("squad", help="the SQuAD 2.0 dev-half benchmark with two baselines")
    squad.add_argument("--limit", type=int, default=None, help="a fixed sample of N questions")
    squad.add_argument(
        "--held-out", action="store_true", help="only the articles the judge was not fitted on (a quarter)"
    )
    squad.add_argument("--data", type=Path, default=None)
    squad.add_argument("--out", type=Path, default=DEFAULT_OUT)
    squad.set_defaults(run=run_squad)
    feedback = commands.add_parser("import-feedback", help="turn 👎 presses into draft eval cases")
    feedback.add_argument("--out", type=Path, default=Path("evals/drafts.jsonl"))
    feedback.set_defaults(run=run_import_feedback)
    types = commands.add_parser("fit-types", help="fit the answer-type table from SQuAD 1.1 train")
    types.add_argument("--questions", type=int, default=12_000, help="questions sampled for fitting")
    types.set_defaults(run=run_fit_types)
    judge = commands.add_parser("fit-judge", help="fit the answerability model on SQuAD 2.0, by article")
    judge.add_argument("--questions", type=int, default=4000, help="questions sampled (seeded)")
    judge.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the SQuAD index is built")
    judge.set_defaults(run=run_fit_judge)
    reader = commands.add_parser("fit-reader", help="fit the reader (a cross-encoder) on SQuAD 1.1 train")
    reader.add_argument("--questions", type=int, default=12_000, help="questions sampled (seeded)")
    reader.add_argument("--held-out-questions", type=int, default=1000)
    reader.add_argument("--batch", type=int, default=32)
    reader.add_argument("--learning-rate", type=float, default=1e-3)
    reader.add_argument(
        "--context", action="store_true", help="read each sentence after its title and the one before"
    )
    reader.add_argument("--out", type=Path, default=None, help="default: bot/judge/reader.npz")
    reader.set_defaults(run=run_fit_reader)
    crosslingual = commands.add_parser(
        "fit-crosslingual", help="fit the judge for questions in other languages (multilingual-fit.jsonl)"
    )
    crosslingual.set_defaults(run=run_fit_crosslingual)
    peers = commands.add_parser("peers", help="retrieval beside txtai on SQuAD and RealTime QA")
    peers.add_argument("--squad-questions", type=int, default=1000, help="answerable SQuAD questions sampled")
    peers.add_argument("--out", type=Path, default=DEFAULT_OUT / "peers")
    peers.set_defaults(run=run_peers)
    bench = commands.add_parser("bench", help="speed, memory and scale benchmarks")
    bench.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    bench.add_argument("--out", type=Path, default=Path("bench.json"))
    bench.add_argument(
        "--corpus", type=Path, help="a folder with a large real-text corpus in sources/ and its index/"
    )
    bench.add_argument(
        "--product-scale",
        type=int,
        default=0,
        metavar="CHUNKS",
        help="also cold and warm answers on the seed index copied to this many chunks (say 1000000)",
    )
    bench.set_defaults(run=run_bench)
    lexical = commands.add_parser(
        "milvus-lexical", help="Milvus's own BM25 beside ours on RealTime QA dev (needs RAGBOT_MILVUS_URI)"
    )
    lexical.add_argument("--index", type=Path, required=True, help="a folder index of the RealTime QA corpus")
    lexical.set_defaults(run=run_milvus_lexical)
    dated = commands.add_parser(
        "dated", help="dates: newest source, stated dates, conflicts, no future sources"
    )
    dated.add_argument("--out", type=Path, default=DEFAULT_OUT / "dated")
    dated.add_argument("--rtqa", action="store_true", help="also RealTime QA dev as of each question's date")
    dated.add_argument("--rtqa-index", type=Path, help="index of the RealTime QA corpus to use or build")
    dated.set_defaults(run=run_dated)
    faults = commands.add_parser("faults", help="kill, fill, flood and fuzz a copy of the seed index")
    faults.add_argument("--seed", type=int, default=0)
    faults.add_argument("--budget", type=float, default=240.0, help="seconds for the timed parts")
    faults.add_argument("--out", type=Path, default=DEFAULT_OUT / "faults")
    faults.set_defaults(run=run_faults)
    return parser


def run_evals(args: argparse.Namespace, settings: AppSettings) -> int:
    from bot.answering import Answerer
    from bot.wiring import make_answerer
    from evals.dataset import DEFAULT_PATH, load_cases
    from evals.report import (
        calibration,
        compare,
        comparison_table,
        gate,
        load_thresholds,
        summary_table,
        write_reports,
    )
    from evals.runner import by_tag, drop_reasons, run_cases, summarise

    cases = load_cases(args.cases or DEFAULT_PATH, settings.index.sources_dir)
    main_set = args.cases is None or args.cases.resolve() == DEFAULT_PATH.resolve()
    answerer = make_answerer(settings, announce=lambda m: print(m, file=sys.stderr))
    if args.composer == "generative" and answerer.generator is None:
        raise EvalError("--composer generative needs RAGBOT_LLM_BASE_URL and RAGBOT_LLM_MODEL")
    extractive = Answerer(answerer.live_index, answerer.options)
    composers = {"extractive": extractive} | (
        {"generative": answerer} if args.composer == "generative" else {}
    )
    side_by_side = {
        name: summarise(run_cases(a, cases, settings.index.sources_dir))
        for name, a in composers.items()
        if name != args.composer
    }
    results = run_cases(composers[args.composer], cases, settings.index.sources_dir)
    summary = summarise(results)
    side_by_side[args.composer] = summary
    previous_path = args.out / "report.json"
    previous = json.loads(previous_path.read_text(encoding="utf-8")) if previous_path.exists() else None
    report = {
        "composer": args.composer,
        "index_version": answerer.live_index.retriever().version,
        "settings": {
            "index": json.loads(settings.index.model_dump_json()),
            "answer": settings.answer.model_dump(),
        },
        "summary": summary,
        "side_by_side": side_by_side,
        "drop_reasons": drop_reasons(results),
        "calibration": calibration(results),
        "by_tag": by_tag(results),
        "regressions": compare(summary, results, previous),
        # The thresholds were set on the main set; held-out sets are measured, not gated.
        "gate_failures": gate(summary, load_thresholds()) if main_set else [],
        "cases": [r.model_dump() for r in results],
    }
    write_reports(args.out, report, results)
    print(summary_table(summary) if len(side_by_side) == 1 else comparison_table(side_by_side))
    for reason, count in report["drop_reasons"].items():
        print(f"dropped generated sentences: {count} x {reason}")
    failing = [r for r in results if r.failure]
    print(f"\n{len(failing)} failing case(s); reports in {args.out}/report.{{json,md,html}}")
    for line in report["regressions"]["metrics"] + report["regressions"]["cases"]:
        print(f"REGRESSION {line}")
    for line in report["gate_failures"]:
        print(f"GATE {line}", file=sys.stderr)
    return 1 if report["gate_failures"] else 0


def run_squad(args: argparse.Namespace, settings: AppSettings) -> int:
    from evals.squad import DATA_FILE, run_benchmark

    data = args.data or EvalSettings().benchmarks_dir / DATA_FILE
    if not data.exists():
        raise EvalError(
            f"no SQuAD data at {data}: set RAGBOT_BENCHMARKS_DIR to the folder holding "
            f"{DATA_FILE}, or pass --data"
        )
    return run_benchmark(data, args.out, settings, limit=args.limit, held_out=args.held_out)


def run_import_feedback(args: argparse.Namespace, settings: AppSettings) -> int:
    from evals.feedback import import_feedback

    count = import_feedback(settings.telegram.feedback_path, args.out)
    print(
        f"wrote {count} draft case(s) to {args.out}; complete their evidence and facts, "
        "then move them into evals/questions.jsonl"
    )
    return 0


def run_fit_types(args: argparse.Namespace, settings: AppSettings) -> int:
    from bot.wiring import make_embedder
    from evals.fit_types import DATA_FILE, fit_types

    datasets = EvalSettings().datasets_dir
    if not (datasets / DATA_FILE).exists():
        raise EvalError(f"no training data at {datasets / DATA_FILE}: set RAGBOT_DATASETS_DIR")
    print(json.dumps(fit_types(datasets, make_embedder(settings.index), args.questions), indent=1))
    return 0


def run_fit_judge(args: argparse.Namespace, settings: AppSettings) -> int:
    from bot.wiring import make_embedder
    from evals.fit_judge import fit_judge
    from evals.squad import DATA_FILE

    data = EvalSettings().benchmarks_dir / DATA_FILE
    if not data.exists():
        raise EvalError(
            f"no SQuAD data at {data}: set RAGBOT_BENCHMARKS_DIR to the folder holding {DATA_FILE}"
        )
    chunking = settings.index.chunk_size, settings.index.chunk_overlap
    embedder = make_embedder(settings.index)
    sources = settings.index.sources_dir
    about = fit_judge(data, sources, args.out / "fit-judge", embedder, chunking, args.questions)
    print(json.dumps(about, indent=1))
    return 0


def run_fit_reader(args: argparse.Namespace, settings: AppSettings) -> int:
    from evals.fit_reader import fit

    datasets = EvalSettings().datasets_dir
    if not (datasets / "squad11-train-explorer").exists():
        raise EvalError(f"no SQuAD 1.1 train under {datasets}: set RAGBOT_DATASETS_DIR")
    from evals.fit_reader import READER_FILE

    out = args.out or READER_FILE
    fit(datasets, args.questions, args.held_out_questions, args.batch, args.learning_rate, out, args.context)
    return 0


def run_peers(args: argparse.Namespace, settings: AppSettings) -> int:
    from evals.peers import run_peers as peers

    peers(EvalSettings().benchmarks_dir, args.out, settings, args.squad_questions)
    return 0


def run_bench(args: argparse.Namespace, settings: AppSettings) -> int:
    from evals.bench import run_bench as bench

    return bench(settings, args.quick, args.out, args.corpus, args.product_scale)


def run_fit_crosslingual(args: argparse.Namespace, settings: AppSettings) -> int:
    from bot.wiring import make_answerer
    from evals.fit_crosslingual import fit_crosslingual

    answerer = make_answerer(settings, announce=lambda m: print(m, file=sys.stderr))
    retriever = answerer.live_index.retriever()
    if not retriever.multilingual:
        raise EvalError("the index has no multilingual vectors: unset RAGBOT_MULTILINGUAL=false and rebuild")
    about = fit_crosslingual(retriever, answerer.judge, settings.index.sources_dir)
    print(json.dumps(about, indent=1, ensure_ascii=False))
    return 0


def run_faults(args: argparse.Namespace, settings: AppSettings) -> int:
    import tempfile
    import time

    from evals.dataset import DEFAULT_PATH
    from evals.faults.suite import report, run_suite
    from index.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(settings.index.model)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ragbot-faults-") as work:
        sources = settings.index.sources_dir
        parts = run_suite(Path(work) / "w", sources, DEFAULT_PATH, embedder, args.seed, args.budget)
    print(report(parts, args.out, args.seed, time.perf_counter() - started))
    print(f"report in {args.out / 'faults.json'}")
    return 0 if all(p.passed for p in parts) else 1


def run_milvus_lexical(args: argparse.Namespace, settings: AppSettings) -> int:
    from evals.milvus_lexical import compare
    from evals.rtqa import require_split
    from index.milvus_store import MilvusTarget
    from index.store import FolderStore

    split = require_split(EvalSettings().benchmarks_dir / "rtqa-dev")
    token = settings.index.milvus_token.get_secret_value() if settings.index.milvus_token else None
    target = MilvusTarget(settings.index.milvus_uri, token=token)
    results = compare(FolderStore(args.index).load(), split / "questions.jsonl", target)
    print("| BM25 | evidence first | evidence in top 5 | ms per query |\n| --- | --- | --- | --- |")
    for name, row in results.items():
        print(f"| {name} | {row['evidence_first']} | {row['evidence_top5']} | {row['ms_per_query']} |")
    return 0


def run_dated(args: argparse.Namespace, settings: AppSettings) -> int:
    from evals.dated import dated_corpus, gate_failures, load_dated_cases, run_dated, write_report

    corpus = dated_corpus(settings.index.sources_dir, args.out / "sources")
    build = settings.index.build_settings().relocated(corpus, args.out / "index", "dated")
    summary, rows = run_dated(_answerer_over(build, settings), load_dated_cases())
    print("| metric | value |\n| --- | --- |")
    print("\n".join(f"| {metric} | {value} |" for metric, value in summary.items()))
    print(f"report in {write_report(args.out, summary, rows)}")
    failures = gate_failures(summary)
    for line in failures:
        print(f"GATE {line}", file=sys.stderr)
    if args.rtqa:
        _run_rtqa_dated(args, settings, build)
    return 1 if failures else 0


def _run_rtqa_dated(args: argparse.Namespace, settings: AppSettings, build) -> None:
    from evals.rtqa import require_split, run_rtqa_dated

    split = require_split(EvalSettings().benchmarks_dir / "rtqa-dev")
    rtqa = build.relocated(split / "corpus", args.rtqa_index or args.out / "rtqa-index", "rtqa")
    for name, result in run_rtqa_dated(split, _answerer_over(rtqa, settings), args.out / "rtqa").items():
        print(f"\nRealTime QA dev, {name}:\n{result.pop('score')}")
        print("\n".join(f"{key}: {value}" for key, value in result.items()))


def _answerer_over(build, settings: AppSettings):
    """An answerer over the index `build` describes, built or brought up to date first."""
    from bot.answering import Answerer
    from bot.wiring import make_embedder, update_index
    from index.build import open_store
    from index.retriever import LiveIndex

    embedder = make_embedder(settings.index)
    update_index(build, embedder, lambda m: print(m, file=sys.stderr))
    return Answerer(LiveIndex(open_store(build), embedder), settings.answer.options())
