"""Write the eval report (JSON, Markdown, self-contained HTML), compare with the last run, gate."""

from __future__ import annotations

import html
import json
import tomllib
from pathlib import Path

from evals.metrics import percentile
from evals.runner import CaseResult

THRESHOLDS_PATH = Path(__file__).with_name("thresholds.toml")
LOWER_IS_BETTER = {"false_abstention_rate", "latency_p50_ms", "latency_p95_ms"}
NOT_GATED_FOR_REGRESSION = {
    "latency_p50_ms",
    "latency_p95_ms",
    "cases",
    "generated_answers",
    "dropped_generated_sentences",
}


def load_thresholds(path: Path = THRESHOLDS_PATH) -> dict[str, float]:
    return tomllib.loads(path.read_text(encoding="utf-8"))["minimum"] | {
        f"max:{k}": v for k, v in tomllib.loads(path.read_text(encoding="utf-8")).get("maximum", {}).items()
    }


def gate(summary: dict, thresholds: dict[str, float]) -> list[str]:
    """Metrics outside their threshold, as sentences."""
    failures = []
    for key, limit in thresholds.items():
        name = key.removeprefix("max:")
        value = summary.get(name)
        if value is None:
            continue
        if key.startswith("max:") and value > limit:
            failures.append(f"{name} = {value:.3f} is above its maximum {limit}")
        elif not key.startswith("max:") and value < limit:
            failures.append(f"{name} = {value:.3f} is below its minimum {limit}")
    return failures


def compare(summary: dict, results: list[CaseResult], previous: dict | None) -> dict[str, list[str]]:
    """Metrics that got worse and cases that newly fail, relative to the previous report."""
    if not previous:
        return {"metrics": [], "cases": []}
    worse = []
    for name, value in summary.items():
        before = previous["summary"].get(name)
        if name in NOT_GATED_FOR_REGRESSION or value is None or before is None:
            continue
        if (value > before + 1e-9) if name in LOWER_IS_BETTER else (value < before - 1e-9):
            worse.append(f"{name}: {before:.3f} -> {value:.3f}")
    passed_before = {c["id"] for c in previous["cases"] if c["failure"] is None}
    newly_failing = [f"{r.id}: {r.failure}" for r in results if r.failure and r.id in passed_before]
    return {"metrics": worse, "cases": newly_failing}


def write_reports(out: Path, report: dict, results: list[CaseResult]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    (out / "report.md").write_text(markdown(report, results), encoding="utf-8")
    (out / "report.html").write_text(html_report(report, results), encoding="utf-8")


def summary_table(summary: dict) -> str:
    rows = [f"| {name} | {_fmt(value)} |" for name, value in summary.items()]
    return "\n".join(["| metric | value |", "| --- | --- |", *rows])


def comparison_table(side_by_side: dict[str, dict]) -> str:
    """Composers side by side, one column each."""
    names = list(side_by_side)
    metrics = list(next(iter(side_by_side.values())))
    rows = [f"| {m} | " + " | ".join(_fmt(side_by_side[n].get(m)) for n in names) + " |" for m in metrics]
    return "\n".join(["| metric | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names), *rows])


def markdown(report: dict, results: list[CaseResult]) -> str:
    table = (
        comparison_table(report["side_by_side"])
        if len(report["side_by_side"]) > 1
        else summary_table(report["summary"])
    )
    parts = [
        f"# Eval report ({report['composer']} composer, index {report['index_version']})",
        "",
        table,
        "",
        "## Regressions since the previous run",
        "",
    ]
    regressions = report["regressions"]["metrics"] + report["regressions"]["cases"]
    parts += [f"- {line}" for line in regressions] or ["none"]
    parts += ["", "## Reliability (confidence vs observed) and precision/coverage", ""]
    for name in ("reliability", "precision_coverage"):
        rows = report["calibration"][name]
        parts += ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])] if rows else []
        parts += ["| " + " | ".join(_fmt(v) for v in row.values()) + " |" for row in rows] + [""]
    if report.get("drop_reasons"):
        parts += ["", "## Generated sentences dropped by the check", ""]
        parts += [f"- {count} × {reason}" for reason, count in report["drop_reasons"].items()]
    parts += ["", "## Failing cases", ""]
    for r in (r for r in results if r.failure):
        parts += [
            f"### {r.id}: {r.failure}",
            f"- question: {r.question}",
            f"- answer: {r.answer}",
            *[f"- cited [{c['n']}] {c['source']}: “{c['quote']}”" for c in r.citations],
            *[f"- expected: {e}" for e in r.expected],
            "",
        ]
    return "\n".join(parts) + "\n"


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _bars(title: str, items: list[tuple[str, float]], width: int = 640, scale: float = 1.0) -> str:
    """A horizontal bar chart as inline SVG."""
    row, left = 22, 190
    height = row * len(items) + 30
    bars = []
    for i, (label, value) in enumerate(items):
        y = 20 + i * row
        length = (width - left - 60) * (value / scale if scale else 0)
        bars.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{html.escape(label)}</text>'
            f'<rect x="{left}" y="{y}" width="{max(length, 0):.1f}" height="16" fill="#4a7bd0"/>'
            f'<text x="{left + length + 4:.1f}" y="{y + 13}">{value:.2f}</text>'
        )
    return (
        f'<figure><figcaption>{html.escape(title)}</figcaption><svg width="{width}" height="{height}" '
        f'font-size="12" font-family="sans-serif">{"".join(bars)}</svg></figure>'
    )


def _histogram(
    title: str, groups: dict[str, list[float]], bins: list[float], marker: float | None = None
) -> str:
    """Overlaid histograms (one colour per group) as inline SVG, with an optional vertical marker."""
    width, height, pad = 640, 220, 30
    colours = ["#4a7bd0", "#d0684a", "#3a9a5b"]
    counts = {
        name: [sum(bins[i] <= v < bins[i + 1] for v in values) for i in range(len(bins) - 1)]
        for name, values in groups.items()
    }
    top = max([max(c) for c in counts.values() if c] + [1])
    slot = (width - 2 * pad) / (len(bins) - 1)
    shapes = []
    for g, (name, group_counts) in enumerate(counts.items()):
        bar = slot / len(counts)
        for i, count in enumerate(group_counts):
            h = (height - 2 * pad) * count / top
            shapes.append(
                f'<rect x="{pad + i * slot + g * bar:.1f}" y="{height - pad - h:.1f}" width="{bar - 1:.1f}" '
                f'height="{h:.1f}" fill="{colours[g % 3]}"><title>{name}: {count}</title></rect>'
            )
        shapes.append(
            f'<text x="{width - 200}" y="{16 + 14 * g}" fill="{colours[g % 3]}">■ {html.escape(name)}</text>'
        )
    for i in range(0, len(bins), max(1, len(bins) // 8)):
        shapes.append(f'<text x="{pad + i * slot:.1f}" y="{height - 10}">{bins[i]:g}</text>')
    if marker is not None:
        x = pad + (marker - bins[0]) / (bins[-1] - bins[0]) * (width - 2 * pad)
        shapes.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad}" y2="{height - pad}" stroke="black" '
            f'stroke-dasharray="4"/><text x="{x + 3:.1f}" y="{pad + 10}">threshold {marker}</text>'
        )
    return (
        f'<figure><figcaption>{html.escape(title)}</figcaption><svg width="{width}" height="{height}" '
        f'font-size="11" font-family="sans-serif">{"".join(shapes)}</svg></figure>'
    )


def calibration(results: list[CaseResult], bins: int = 5) -> dict[str, list[dict]]:
    """The reliability diagram (per confidence bin: mean confidence vs the share of cases whose
    best sentence held the gold evidence) and the precision/coverage curve (per threshold: the
    share of cases that would be answered, and how many of those rightly)."""
    right = [bool(r.answerable and r.cited_gold) for r in results]
    confidence = [r.confidence for r in results]
    reliability = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidence) if low <= c < high or (b == bins - 1 and c == 1.0)]
        if members:
            reliability.append({
                "bin": f"{low:.1f}-{high:.1f}", "cases": len(members),
                "predicted": round(sum(confidence[i] for i in members) / len(members), 3),
                "observed": round(sum(right[i] for i in members) / len(members), 3),
            })  # fmt: skip
    curve = []
    for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        answered = [i for i, c in enumerate(confidence) if c >= t]
        precision = sum(right[i] for i in answered) / len(answered) if answered else None
        curve.append({"threshold": t, "coverage": round(len(answered) / max(1, len(results)), 3),
                      "precision": None if precision is None else round(precision, 3)})  # fmt: skip
    return {"reliability": reliability, "precision_coverage": curve}


def _rows_table(title: str, rows: list[dict]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row.values()) + "</tr>" for row in rows)
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def html_report(report: dict, results: list[CaseResult]) -> str:
    from bot.judge.model import load_model

    summary = report["summary"]
    rates = [(k, v) for k, v in summary.items() if isinstance(v, float) and v <= 1 and "latency" not in k]
    tags = [(tag, stats["passed"]) for tag, stats in report["by_tag"].items() if stats["passed"] is not None]
    confidences = {
        "answerable": [r.confidence for r in results if r.answerable],
        "unanswerable": [r.confidence for r in results if not r.answerable],
    }
    latencies = [r.seconds * 1000 for r in results]
    top_latency = 1.5 * max(percentile(latencies, 95) or 1.0, 1.0)  # outliers go in the last bin
    latencies = [min(value, top_latency) for value in latencies]
    latency_bins = [round(top_latency * i / 12, 1) for i in range(13)]
    latency_bins[-1] += 0.001
    failing = "".join(
        f"<tr><td>{html.escape(r.id)}</td><td>{html.escape(r.failure or '')}</td>"
        f"<td>{html.escape(r.question)}</td>"
        f"<td>{html.escape(r.answer)}</td><td>{'<br>'.join(html.escape(e) for e in r.expected)}</td></tr>"
        for r in results
        if r.failure
    )
    regressions = "".join(
        f"<li>{html.escape(x)}</li>"
        for x in report["regressions"]["metrics"] + report["regressions"]["cases"]
    )
    index = html.escape(str(report["index_version"]))
    gate_word = "passed" if not report["gate_failures"] else "FAILED"
    summary_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in summary.items()
    )
    confidence_title = "Confidence: answerable vs unanswerable (the abstention decision)"
    confidence_bins = [round(i * 0.05, 2) for i in range(21)]
    figures = "\n".join(
        (
            _bars("Rates (0-1)", rates),
            _bars("Pass rate per question type", tags),
            _histogram(confidence_title, confidences, confidence_bins, load_model().threshold),
            _histogram("Latency per question (ms)", {"latency": latencies}, latency_bins),
        )
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Eval report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:13px}}figure{{margin:1em 0}}</style>
</head><body>
<h1>Eval report</h1><p>{html.escape(report["composer"])} composer · index {index}
· {summary["cases"]} cases · gate: {gate_word}</p>
<h2>Summary</h2><table>{summary_rows}</table>
{figures}
{_rows_table("Reliability: predicted confidence vs observed", report["calibration"]["reliability"])}
{_rows_table("Precision / coverage by threshold", report["calibration"]["precision_coverage"])}
<h2>Regressions since the previous run</h2><ul>{regressions or "<li>none</li>"}</ul>
<h2>Failing cases</h2><table>
<tr><th>id</th><th>why</th><th>question</th><th>answer</th><th>expected</th></tr>{failing}</table>
</body></html>"""
