"""Self-contained HTML (and Markdown) for people: a validation page per stage and the run report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from aktrec import schemas as S
from aktrec.metrics import comparison_table
from aktrec.report.svg import bar_chart, line_chart
from aktrec.stages import STAGES

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.note{color:#555;font-size:.92em}
.charts{display:flex;flex-wrap:wrap;gap:1em}code{background:#f4f4f4;padding:1px 4px}
"""
DOCS_INDEX = Path("gx/uncommitted/data_docs/local_site/index.html")


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
        f"<p class='note'>Written {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by aktrec.</p></body></html>"
    )


class Html(str):
    """Markup built here (verdicts, links): table cells pass it through; any other text is escaped."""


def _verdict(ok: bool) -> Html:
    return Html("<span class='pass'>passed</span>" if ok else "<span class='fail'>FAILED</span>")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "–" if np.isnan(v) else f"{v:,.4f}" if abs(v) < 10 else f"{v:,.1f}"
        if isinstance(v, int):
            return f"{v:,}"
        return v if isinstance(v, Html) else escape("–" if v is None else str(v))

    return (
        "<table><tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in header)
        + "</tr>"
        + "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
        + "</table>"
    )


# -- validation pages (one per stage: KFP HTML and Markdown artifacts) -------------------------


def read_summary(validation_dir: Path) -> dict[str, Any]:
    return json.loads((Path(validation_dir) / "summary.json").read_text())


def validation_html(title: str, summaries: dict[str, dict[str, Any]], docs: dict[str, str] | None = None) -> str:
    """Every suite of every summary with each expectation's outcome; `docs`: links to full Data Docs."""
    body = []
    for name, summary in summaries.items():
        body.append(f"<h2>{escape(name)}: {_verdict(summary['success'])}</h2>")
        if docs and name in docs:
            body.append(
                f"<p>Full Great Expectations Data Docs: <a href='{escape(docs[name])}'>{escape(docs[name])}</a></p>"
            )
        for suite, result in summary["suites"].items():
            rows = [
                [
                    Html("<span class='pass'>✓</span>" if e["success"] else "<span class='fail'>✗</span>"),
                    e["description"],
                ]
                for e in result.get("expectations", [])
            ]
            body.append(
                f"<h3>{escape(suite)} — {result['n_rows']:,} rows, {result['n_expectations']} expectations, "
                f"{_verdict(result['success'])}</h3>" + _table(["", "expectation"], rows)
            )
    return _page(title, "".join(body))


def validation_markdown(title: str, summaries: dict[str, dict[str, Any]]) -> str:
    lines = [f"# {title}", "", "| suite | rows | expectations | result | first failure |", "|---|---|---|---|---|"]
    for summary in summaries.values():
        for suite, result in summary["suites"].items():
            lines.append(
                f"| {suite} | {result['n_rows']:,} | {result['n_expectations']} | "
                f"{'passed' if result['success'] else '**FAILED**'} | {(result['failures'] or [''])[0]} |"
            )
    return "\n".join(lines) + "\n"


# -- the run report ---------------------------------------------------------------------------


def _rank_curve(counts: pd.Series, points: int = 200) -> list[tuple[float, float]]:
    values = np.sort(counts.to_numpy())[::-1]
    ranks = np.unique(np.geomspace(1, len(values), num=min(points, len(values))).astype(int))
    return [(float(r), float(values[r - 1])) for r in ranks]


def _data_section(data_dir: Path) -> str:
    card = json.loads((data_dir / "card.json").read_text())
    train = pq.read_table(
        S.table_file(data_dir, "train"), columns=[S.USER_ID, S.ITEM_ID, S.LABEL, S.IS_SAMPLED]
    ).to_pandas()
    observed = train[~train[S.IS_SAMPLED]]
    rows = [
        [
            "raw users / items / interactions",
            f"{card['raw']['n_users']:,} / {card['raw']['n_items']:,} / {card['raw']['n_interactions']:,}",
        ],
        ["labels", card["labels"]],
        ["timestamps", card["timestamps_note"]],
        ["split", json.dumps(card["split"])],
        ["sampled negatives", json.dumps(card["negatives"]) if card["negatives"] else "none (the data has non-clicks)"],
        ["train / test samples", f"{card['train']['n']:,} / {card['test']['n']:,}"],
        [
            "tail users / items (share)",
            f"{card['tail']['share_tail_users']:.1%} / {card['tail']['share_tail_items']:.1%}",
        ],
        ["tail samples in test", f"{card['test']['share_tail_samples']:.1%}"],
        [
            "popularity scorer on test: AUC / GAUC",
            f"{card['popularity_baseline']['test_auc']:.3f} / {card['popularity_baseline']['test_gauc']:.3f}",
        ],
    ]
    curve = line_chart(
        {
            "items": _rank_curve(observed[S.ITEM_ID].value_counts()),
            "users": _rank_curve(observed[S.USER_ID].value_counts()),
        },
        "Long tail",
        "rank",
        "training interactions",
    )
    return (
        f"<h2>Data: {escape(str(card['name']))}</h2>" + _table(["", ""], rows) + f"<div class='charts'>{curve}</div>"
        "<p class='note'>Interactions per item and per user in training, by rank: the flatter the right end, "
        "the longer the tail.</p>"
    )


def _representation_section(emb_dir: Path, sid_dir: Path) -> str:
    emb = json.loads((emb_dir / "metrics.json").read_text())
    sid = json.loads((sid_dir / "metrics.json").read_text())
    items, users = emb.get("items", {}), emb.get("users", {})
    rows = [
        [
            "item alignment: held-out pair recall@10 before → after",
            f"{items.get('holdout_recall@10_before', float('nan')):.4f} → "
            f"{items.get('holdout_recall@10_after', float('nan')):.4f}",
        ],
        [
            "user model: held-out next-item recall@10 (history mean)",
            f"{users.get('heldout_next_item_recall@10', float('nan')):.4f} "
            f"({users.get('heldout_next_item_recall@10_history_mean', float('nan')):.4f})",
        ],
        [
            "encoder",
            f"{items.get('model', '–')}, {items.get('dim', '–')} dims, trainable: {items.get('trainable', '–')}",
        ],
    ]
    sid_rows, curves = [], {}
    for kind, m in sid.items():
        coherence = (
            "; ".join(f"{k} {v['purity']:.3f} (random {v['random_purity']:.3f})" for k, v in m["coherence"].items())
            or "–"
        )
        sid_rows.append(
            [
                kind,
                m["cluster_sizes"]["n_clusters"],
                f"{m['cluster_sizes']['median']:,g}",
                m["collision_rate"],
                m["tail_with_head_share"],
                m["reconstruction_cosine"],
                " / ".join(f"{level['utilisation']:.2f}" for level in m["levels"]),
                coherence,
            ]
        )
        table = pq.read_table(sid_dir / f"{kind[:-1]}_semantic_ids.parquet", columns=[S.CLUSTER_ID]).to_pandas()
        curves[kind] = _rank_curve(table[S.CLUSTER_ID].value_counts())
    chart = line_chart(curves, "Cluster sizes", "cluster rank", "entities in the cluster")
    return (
        "<h2>Representations and semantic IDs</h2>"
        + _table(["", ""], rows)
        + _table(
            [
                "",
                "clusters",
                "median size",
                "collision rate",
                "tail with a head member",
                "reconstruction cosine",
                "codebook use per level",
                "coherence: purity (random)",
            ],
            sid_rows,
        )
        + f"<div class='charts'>{chart}</div>"
        "<p class='note'>Purity: share of a cluster's members in its majority category, against the same "
        "clusters with shuffled labels.</p>"
    )


def _model_section(model_dir: Path) -> str:
    metrics = json.loads((model_dir / "metrics.json").read_text())
    models = metrics["models"]

    def table(measured: dict[str, Any]) -> str:
        header, rows = comparison_table(
            measured,
            value=lambda model, part, metric: float("nan") if model[part][metric] is None else model[part][metric],
            extra={
                "tail n": lambda model: model["tail"]["n"],
                "tail GAUC users": lambda model: model["tail"]["n_users"],
            },
        )
        return _table(header, rows)

    chart_auc = bar_chart(
        ["total", "head", "tail"],
        {n: [m[s]["auc"] for s in ("total", "head", "tail")] for n, m in models.items()},
        "AUC",
        "AUC",
    )
    chart_gauc = bar_chart(
        ["total", "head", "tail"],
        {n: [m[s]["gauc"] for s in ("total", "head", "tail")] for n, m in models.items()},
        "GAUC",
        "GAUC",
    )
    gate = metrics["promotion"]
    return (
        "<h2>Models: click prediction on the test samples</h2>"
        + table(models)
        + f"<div class='charts'>{chart_auc}{chart_gauc}</div>"
        + f"<p>Promotion gate for <code>{escape(gate['model'])}</code>: {_verdict(gate['promote'])}"
        + (f" — {escape(gate['failure'])}" if gate["failure"] else "")
        + "</p>"
        "<p class='note'>Test numbers are reported, never selected on: early stopping and the promotion gate read "
        "the validation split below, which precedes the test window. Tail sample: a tail user or a tail item "
        "(thresholds in the data card); a sampled negative is in its positive's slice. GAUC is shown as – where "
        "fewer than 30 users have both labels. <code>popularity</code> scores by the item's training clicks and "
        "<code>lightgbm</code> is the tabular peer: read gains against them and <code>strong_base</code>.</p>"
        "<h3>Validation (what selection reads)</h3>" + table(metrics.get("validation", {}))
    )


def run_report(artifacts: dict[str, Path], validation_pages: dict[str, str], title: str = "aktrec run") -> str:
    """The report of a pipeline run. `artifacts`: raw_validation, data, emb, sid, feature_repo, model directories;
    `validation_pages`: stage name -> link to its validation page."""
    checks = []
    for stage in STAGES:
        directory = stage.validation_dir(artifacts[stage.artifact])
        summary = read_summary(directory)
        docs = directory / DOCS_INDEX
        page = validation_pages.get(stage.name)
        checks.append(
            [
                stage.title,
                _verdict(summary["success"]),
                sum(s["n_expectations"] for s in summary["suites"].values()),
                Html(
                    f"<a href='{escape(str(docs))}'>Data Docs</a>"
                    + (f" · <a href='{escape(page)}'>summary</a>" if page else "")
                ),
            ]
        )
    body = (
        "<h2>Validation</h2>"
        + _table(["stage", "result", "expectations", "details"], checks)
        + _model_section(Path(artifacts["model"]))
        + _data_section(Path(artifacts["data"]))
        + _representation_section(Path(artifacts["emb"]), Path(artifacts["sid"]))
    )
    return _page(title, body)
