"""Cell outcomes -> table summaries (mean +/- std over seeds) -> markdown and CSV beside the published values.

A column that averages several targets (Table 1) is averaged per seed first, then summarised over
seeds; so is the ``average`` column, over the per-target columns that finished for that row.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import statistics
from typing import Any

from anotrans.benchmark.runner import MEASURES, PIXEL_MEASURES, Outcome, Plan
from anotrans.benchmark.tables import AVERAGE, ROW_LABELS

MEASURE_LABELS = {
    "honest": "honest (the run's own epoch, eval mode)",
    "optimistic": "optimistic (max over epochs)",
    "reference": "reference protocol",
    "pixel_auroc": "pixel AUROC (honest)",
    "aupro": "AUPRO (honest)",
    "published": "published",
}
MASKED_DATA = ("mvtec",)  # data kinds with ground-truth masks: their tables show the pixel measures
NOT_RUN = "not run"


@dataclasses.dataclass
class Summary:
    """One (row, column) of a table: status, per-seed values of each measure, and why it did not run."""

    status: str  # "done", "pending", "failed" or NOT_RUN
    per_seed: dict[str, list[float | None]] = dataclasses.field(default_factory=dict)
    reason: str = ""
    columns: int = 1  # per-target columns behind an average

    def mean_std(self, measure: str) -> tuple[float | None, float | None]:
        values = self.per_seed.get(measure, [])
        if not values or any(v is None for v in values):
            return None, None
        std = statistics.stdev(values) if len(values) > 1 else None
        return statistics.fmean(values), std


def _mean(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else statistics.fmean(values)


def summarise(plan: Plan, outcomes: dict[str, Outcome]) -> dict[tuple[str, str], Summary]:
    """A Summary per (model, column), plus the ``average`` column when the table has one."""
    out: dict[tuple[str, str], Summary] = {
        key: Summary(NOT_RUN, reason=reason) for key, reason in plan.not_run.items()
    }
    groups: dict[tuple[str, str], list[Any]] = {}
    for cell in plan.cells:
        groups.setdefault((cell.model, cell.column), []).append(cell)
    for key, cells in groups.items():
        results = [outcomes.get(c.key) for c in cells]
        failed = [r for r in results if r is not None and r.status == "failed"]
        if failed:
            out[key] = Summary("failed", reason=failed[0].reason)
        elif any(r is None for r in results):
            out[key] = Summary("pending", reason="not finished yet")
        else:
            seeds = sorted({c.seed for c in cells})
            out[key] = Summary(
                "done",
                {
                    m: [
                        _mean([r.values.get(m) for c, r in zip(cells, results, strict=True) if c.seed == s])
                        for s in seeds
                    ]
                    for m in MEASURES
                },
            )
    if plan.table.average:
        for model in plan.table.rows:
            out[model, AVERAGE] = _average([out[model, c.name] for c in plan.table.columns])
    return out


def _average(parts: list[Summary]) -> Summary:
    done = [p for p in parts if p.status == "done"]
    if not done:
        pending = any(p.status == "pending" for p in parts)
        return Summary("pending" if pending else NOT_RUN, reason="no column of this row finished")
    n_seeds = min(len(p.per_seed["honest"]) for p in done)
    per_seed = {m: [_mean([p.per_seed[m][i] for p in done]) for i in range(n_seeds)] for m in MEASURES}
    return Summary("done", per_seed, columns=len(done))


def fmt(mean: float | None, std: float | None) -> str:
    """``0.812 ± 0.014`` over several seeds, ``0.812`` for one, ``n/a`` when not measured."""
    if mean is None:
        return "n/a"
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _column_names(plan: Plan) -> list[str]:
    return [c.name for c in plan.table.columns] + ([AVERAGE] if plan.table.average else [])


def _text(summary: Summary, measure: str) -> str:
    if summary.status != "done":
        return {"pending": "…", "failed": "failed"}.get(summary.status, NOT_RUN)
    mean, std = summary.mean_std(measure)
    return (
        fmt(mean, std) if summary.columns == 1 or mean is None else f"{fmt(mean, std)} (of {summary.columns})"
    )


def _published(plan: Plan, model: str, column: str) -> str:
    value = plan.table.published.get(model, {}).get(column)
    return "—" if value is None else f"{value:.3f}"


def markdown(plan: Plan, summaries: dict[tuple[str, str], Summary], meta: dict[str, str]) -> str:
    """The table as markdown: metadata, a line per measure and model (pixel ones when the data has masks,
    e.g. Table 5), the published values, reasons."""
    columns = _column_names(plan)
    masks = any(c.data in MASKED_DATA for c in plan.table.columns)
    labels = {m: label for m, label in MEASURE_LABELS.items() if masks or m not in PIXEL_MEASURES}
    lines = [f"# {plan.table.name}: {plan.table.title}", ""]
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    lines += ["", "| model | measure | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for model in plan.table.rows:
        for measure, label in labels.items():
            cells = [
                _published(plan, model, c) if measure == "published" else _text(summaries[model, c], measure)
                for c in columns
            ]
            name = ROW_LABELS.get(model, model) if measure == "honest" else ""
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    reasons = _reasons(plan, summaries)
    if reasons:
        lines += ["", "Not run or failed:", ""] + [f"- {where}: {why}" for why, where in reasons.items()]
    return "\n".join(lines) + "\n"


def _reasons(plan: Plan, summaries: dict[tuple[str, str], Summary]) -> dict[str, str]:
    """Reason -> where it applies: columns, with the rows named unless it is every row."""
    found: dict[str, dict[str, list[str]]] = {}
    for (model, column), summary in summaries.items():
        if summary.status in (NOT_RUN, "failed") and column != AVERAGE:
            found.setdefault(summary.reason, {}).setdefault(column, []).append(model)
    out = {}
    for reason, where in found.items():
        by_rows: dict[tuple[str, ...], list[str]] = {}
        for column, models in where.items():
            by_rows.setdefault(tuple(m for m in plan.table.rows if m in models), []).append(column)
        out[reason] = "; ".join(
            ", ".join(columns) + ("" if len(rows) == len(plan.table.rows) else f" ({', '.join(rows)})")
            for rows, columns in by_rows.items()
        )
    return out


CSV_FIELDS = (
    "table", "model", "column", "status", "seeds",
    "honest_mean", "honest_std", "optimistic_mean", "optimistic_std", "reference_mean", "reference_std",
    "pixel_auroc_mean", "pixel_auroc_std", "aupro_mean", "aupro_std", "published", "reason",
)  # fmt: skip


def csv_text(plan: Plan, summaries: dict[tuple[str, str], Summary], meta: dict[str, str]) -> str:
    """One row per (model, column); the metadata leads as ``# key: value`` comment lines."""
    buf = io.StringIO()
    buf.writelines(f"# {key}: {value}\n" for key, value in meta.items())
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for model in plan.table.rows:
        for column in _column_names(plan):
            summary = summaries[model, column]
            numbers = []
            for measure in MEASURES:
                mean, std = summary.mean_std(measure)
                numbers += ["" if mean is None else f"{mean:.4f}", "" if std is None else f"{std:.4f}"]
            published = plan.table.published.get(model, {}).get(column)
            seeds = len(summary.per_seed.get("honest", []))
            writer.writerow(
                [plan.table.name, model, column, summary.status, seeds, *numbers,
                 "" if published is None else published, summary.reason]
            )  # fmt: skip
    return buf.getvalue()
