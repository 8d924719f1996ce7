"""Self-contained HTML (and Markdown) for people: a validation page per stage and the run report,
rendered from the jinja2 templates beside this module (autoescaped; the inline SVG charts are
the only markup passed in, marked as such)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from aktrec import schemas
from aktrec.ctr.gate import gate_verdict
from aktrec.metrics import MIN_GAUC_USERS, comparison_table
from aktrec.report.svg import bar_chart, line_chart

TEMPLATES = Environment(
    loader=PackageLoader("aktrec.report", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=StrictUndefined,
)
DOCS_INDEX = Path("gx/uncommitted/data_docs/local_site/index.html")


def _cell(value: Any) -> str:
    """A table cell: numbers formatted, None and NaN as –; the template escapes the result."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "–" if np.isnan(value) else f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "–" if value is None else str(value)


TEMPLATES.filters["cell"] = _cell


def _render(template: str, title: str, **context: Any) -> str:
    written = f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}"
    return TEMPLATES.get_template(template).render(title=title, written=written, **context)


# -- validation pages (one per stage: KFP HTML and Markdown artifacts) -------------------------


def read_summary(validation_dir: Path) -> dict[str, Any]:
    return json.loads((Path(validation_dir) / "summary.json").read_text())


def validation_html(title: str, summaries: dict[str, dict[str, Any]], docs: dict[str, str] | None = None) -> str:
    """Every suite of every summary with each expectation's outcome; `docs`: links to full Data Docs."""
    return _render("validation.html.j2", title, summaries=summaries, docs=docs or {})


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


def _data_section(data_dir: Path) -> dict[str, Any]:
    card = json.loads((data_dir / "card.json").read_text())
    train = pq.read_table(
        schemas.table_file(data_dir, "train"),
        columns=[schemas.USER_ID, schemas.ITEM_ID, schemas.LABEL, schemas.IS_SAMPLED],
    ).to_pandas()
    observed = train[~train[schemas.IS_SAMPLED]]
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
            "items": _rank_curve(observed[schemas.ITEM_ID].value_counts()),
            "users": _rank_curve(observed[schemas.USER_ID].value_counts()),
        },
        "Long tail",
        "rank",
        "training interactions",
    )
    return {"name": card["name"], "rows": rows, "chart": Markup(curve)}


def _representation_section(emb_dir: Path, sid_dir: Path) -> dict[str, Any]:
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
        table = pq.read_table(sid_dir / f"{kind[:-1]}_semantic_ids.parquet", columns=[schemas.CLUSTER_ID]).to_pandas()
        curves[kind] = _rank_curve(table[schemas.CLUSTER_ID].value_counts())
    chart = line_chart(curves, "Cluster sizes", "cluster rank", "entities in the cluster")
    sid_header = [
        "",
        "clusters",
        "median size",
        "collision rate",
        "tail with a head member",
        "reconstruction cosine",
        "codebook use per level",
        "coherence: purity (random)",
    ]
    return {"rows": rows, "sid_header": sid_header, "sid_rows": sid_rows, "chart": Markup(chart)}


def _model_section(model_dir: Path) -> dict[str, Any]:
    metrics = json.loads((model_dir / "metrics.json").read_text())
    models = metrics["models"]

    def table(measured: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        return comparison_table(
            measured,
            value=lambda model, part, metric: float("nan") if model[part][metric] is None else model[part][metric],
            extra={
                "tail n": lambda model: model["tail"]["n"],
                "tail GAUC users": lambda model: model["tail"].get("n_users", 0),
            },
        )

    def chart(metric: str, title: str) -> Markup:
        slices = ["total", "head", "tail"]
        return Markup(bar_chart(slices, {n: [m[s][metric] for s in slices] for n, m in models.items()}, title, title))

    return {
        "test": table(models),
        "validation": table(metrics.get("validation", {})),
        "chart_auc": chart("auc", "AUC"),
        "chart_gauc": chart("gauc", "GAUC"),
        "gate": metrics["promotion"],
        "champion": metrics.get("champion"),
        "gate_verdict": gate_verdict(metrics["promotion"]),
    }


REPORT_INDEX = "index.html"
SITE_DIR = DOCS_INDEX.parent  # a validation directory's Data Docs site


def stage_links(stage_name: str) -> dict[str, str]:
    """Where the reports folder keeps a stage's validation page and Data Docs, from its root."""
    return {"page": f"validation/{stage_name}.html", "docs": f"data-docs/{stage_name}/index.html"}


class ValidatedStage(Protocol):
    """A stage as the reports read it (`aktrec.pipeline.stages.Stage`)."""

    name: str
    title: str
    artifact: str  # the key of `artifacts` whose directory holds its validation summary

    def validation_dir(self, artifact_dir: str | Path) -> Path: ...


def run_report(artifacts: dict[str, Path], stages: Sequence[ValidatedStage], title: str = "aktrec run") -> str:
    """The report of a pipeline run (the reports folder's index). `artifacts`: raw_validation,
    data, emb, sid, feature_repo, model directories; `stages`: the stages whose checks it lists
    (those whose artifact it was given)."""
    checks = []
    for stage in _given(stages, artifacts):
        summary = read_summary(stage.validation_dir(artifacts[stage.artifact]))
        checks.append(
            {
                "title": stage.title,
                "success": summary["success"],
                "n_expectations": sum(s["n_expectations"] for s in summary["suites"].values()),
                **stage_links(stage.name),
            }
        )
    return _render(
        "run_report.html.j2",
        title,
        checks=checks,
        models=_model_section(Path(artifacts["model"])),
        data=_data_section(Path(artifacts["data"])),
        representations=_representation_section(Path(artifacts["emb"]), Path(artifacts["sid"])),
        min_gauc_users=MIN_GAUC_USERS,
    )


def _given(stages: Sequence[ValidatedStage], artifacts: dict[str, Path]) -> list[ValidatedStage]:
    return [stage for stage in stages if stage.artifact in artifacts]


def write_reports(artifacts: dict[str, Path], out: Path, stages: Sequence[ValidatedStage]) -> Path:
    """The reports folder: the run report, each stage's validation page and its full Data Docs,
    every link relative, so the folder can be moved, archived or served as it is."""
    out = Path(out)
    (out / "validation").mkdir(parents=True, exist_ok=True)
    for stage in _given(stages, artifacts):
        directory = stage.validation_dir(artifacts[stage.artifact])
        links = stage_links(stage.name)
        shutil.copytree(directory / SITE_DIR, out / Path(links["docs"]).parent, dirs_exist_ok=True)
        summaries = {stage.title: read_summary(directory)}
        docs_from_page = f"../{links['docs']}"
        (out / links["page"]).write_text(
            validation_html(f"Validation: {stage.title}", summaries, {stage.title: docs_from_page})
        )
    (out / REPORT_INDEX).write_text(run_report(artifacts, stages))
    return out


# -- pages after deployment (monitor, readout): titled sections of tables and charts -----------


def sections_page(title: str, summary: str, sections: list[dict[str, Any]]) -> str:
    """A self-contained page of sections, each a dict with `title`, optional `passed` (a
    verdict), `notes`, `header` and `rows` (a table) and `charts` (inline SVG)."""
    shaped = [
        {
            "title": section["title"],
            "passed": section.get("passed"),
            "notes": section.get("notes", []),
            "header": section.get("header", []),
            "rows": section.get("rows", []),
            "charts": [Markup(chart) for chart in section.get("charts", [])],
        }
        for section in sections
    ]
    return _render("sections.html.j2", title, summary=summary, sections=shaped)
