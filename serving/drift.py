#!/usr/bin/env python3
"""Drift of a served model version: its logged inputs and predictions against a baseline.

    python serving/drift.py --payloads DIR --model NAME --version V --baseline FILE
                            [--window 24h] [--window-end 2026-12-02T12:00:00Z] [--baseline-kind KIND]

DIR holds payload files in the payload log's layout (the `payloads` container, or a copy of part of it):
`<model>/<version>/date=YYYY-MM-DD/hour=HH/<revision>-<pid>-<seq>.jsonl`, one JSON object per request
with `time`, `status`, `inputs` (one {column: value} object per row) and `outputs` (one prediction per
row). The report (JSON) goes to stdout; `npm run drift` and the scheduled drift job both run this one
function, so they give the same report for the same files.

What is measured, per input column and for the predictions:

- numeric columns (every value in the baseline a number, not a boolean): the population stability
  index, PSI = sum over bins of (w - b) * ln(w / b), b and w the baseline's and the window's share of
  rows in the bin. The bins are cut at the baseline's deciles (numpy's default linear quantiles;
  repeated cut points merged, so a baseline with few distinct values has fewer bins); bins are closed
  on the right, the first and last open-ended. A share of 0 is raised to EPSILON (1e-4) before the
  logarithm, without renormalising, so one empty bin adds a finite amount. Missing values (null, NaN)
  are a bin of their own.
- categorical columns (anything else; values compared as text, null as its own category): the
  Jensen-Shannon distance with base-2 logarithms (the square root of the JS divergence), from 0
  (the same distribution) to 1 (no category in common). Categories the baseline never had are kept
  (the baseline's share is 0, which JS handles without any epsilon) and listed in the report.

Levels (conventional): PSI below 0.1 `stable`, 0.1 to below 0.25 `moderate`, 0.25 and above
`significant` (the credit-scoring rule of thumb, Siddiqi 2006; Evidently's PSI test also flags at
0.1). Jensen-Shannon distance below 0.1 `stable` (Evidently's default threshold for it), 0.1 to
below 0.2 `moderate`, 0.2 and above `significant` (the project's choice).

Prediction drift: the predictions are measured the same way (numbers as numeric, text as
categorical, an object per row as one column per key) against the baseline's `prediction` column
when the baseline has one, else against the predictions logged in the window of the same length just
before this one (`previous-window`), else not at all (the report says why).

Standard library plus numpy only: the scheduled job runs it inside the model's serving
image, which has numpy through pandas (serving_requirements.py adds pandas to every image).
"""
import argparse
import csv
import io
import json
import math
import os
import re
import sys
from datetime import datetime, timedelta, timezone

import numpy

EPSILON = 1e-4
BINS = 10
THRESHOLDS = {
    "psi": {"moderate": 0.1, "significant": 0.25},
    "jensen_shannon": {"moderate": 0.1, "significant": 0.2},
}
LEVELS = ("stable", "moderate", "significant")
PREDICTION_COLUMN = "prediction"
WINDOW = re.compile(r"^([1-9]\d*)([hd])$")
# Categories listed by name in the report (the rest are counted).
LISTED_CATEGORIES = 20


class DriftError(Exception):
    """A problem with the inputs (flags, baseline, payload files); the message says what to do."""


# ---------------------------------------------------------------------------------------------
# Statistics.


def level(statistic, value):
    """`stable`, `moderate` or `significant` for a PSI or Jensen-Shannon distance (None: no value)."""
    if value is None:
        return None
    limits = THRESHOLDS[statistic]
    if value >= limits["significant"]:
        return "significant"
    if value >= limits["moderate"]:
        return "moderate"
    return "stable"


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_numeric(values):
    """A column is numeric when every present baseline value is a number (booleans are categories)."""
    present = [v for v in values if not _is_missing(v)]
    return bool(present) and all(_is_number(v) for v in present)


def bin_edges(baseline, bins=BINS):
    """The inner cut points: the baseline's quantiles at 1/bins .. (bins-1)/bins, repeats merged."""
    values = numpy.asarray(baseline, dtype=float)
    if values.size == 0:
        return numpy.asarray([], dtype=float)
    return numpy.unique(numpy.quantile(values, numpy.arange(1, bins) / bins))


def _shares(counts, total):
    return [c / total if total else 0.0 for c in counts]


def psi_from_shares(expected, actual, epsilon=EPSILON):
    """PSI of two lists of shares: sum (a - e) * ln(a / e), each share raised to at least epsilon."""
    total = 0.0
    for e, a in zip(expected, actual):
        e, a = max(e, epsilon), max(a, epsilon)
        total += (a - e) * math.log(a / e)
    return total


def numeric_drift(baseline, window, bins=BINS, epsilon=EPSILON):
    """PSI of a numeric column, with the bins and both shares per bin."""
    base_present = [float(v) for v in baseline if not _is_missing(v)]
    edges = bin_edges(base_present, bins)
    labels = []
    for i in range(len(edges) + 1):
        low = "-inf" if i == 0 else _fmt(edges[i - 1])
        high = "inf" if i == len(edges) else _fmt(edges[i])
        labels.append(f"({low}, {high}{')' if i == len(edges) else ']'}")

    def counts(values):
        present, missing, other = [], 0, 0
        for v in values:
            if _is_missing(v):
                missing += 1
            elif _is_number(v):
                present.append(float(v))
            else:
                other += 1  # text in a numeric column: counted apart, like a missing value
        # side="left": index i means edges[i-1] < x <= edges[i] (bins closed on the right).
        index = numpy.searchsorted(edges, numpy.asarray(present, dtype=float), side="left")
        return [int(c) for c in numpy.bincount(index, minlength=len(edges) + 1)], missing, other

    base_counts, base_missing, base_other = counts(baseline)
    win_counts, win_missing, win_other = counts(window)
    if base_missing or win_missing:
        labels.append("missing")
        base_counts.append(base_missing)
        win_counts.append(win_missing)
    if base_other or win_other:
        labels.append("not a number")
        base_counts.append(base_other)
        win_counts.append(win_other)
    base_shares = _shares(base_counts, len(baseline))
    win_shares = _shares(win_counts, len(window))
    value = psi_from_shares(base_shares, win_shares, epsilon) if window else None
    return {
        "kind": "numeric",
        "statistic": "psi",
        "value": value,
        "level": level("psi", value),
        "bins": [{"bin": label, "baseline": b, "window": w} for label, b, w in zip(labels, base_shares, win_shares)],
    }


def _category(value):
    if _is_missing(value):
        return "(missing)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def jensen_shannon_distance(p, q):
    """sqrt(JS divergence) with base-2 logarithms: 0 for the same shares, 1 for disjoint ones."""
    divergence = 0.0
    for a, b in zip(p, q):
        m = (a + b) / 2
        if a > 0:
            divergence += 0.5 * a * math.log2(a / m)
        if b > 0:
            divergence += 0.5 * b * math.log2(b / m)
    return math.sqrt(max(divergence, 0.0))


def categorical_drift(baseline, window):
    """Jensen-Shannon distance of a categorical column, with the shares per category and the unseen ones."""
    base = [_category(v) for v in baseline]
    win = [_category(v) for v in window]
    categories = sorted(set(base) | set(win))
    base_shares = _shares([base.count(c) for c in categories], len(base))
    win_shares = _shares([win.count(c) for c in categories], len(win))
    value = jensen_shannon_distance(base_shares, win_shares) if win else None
    unseen = [c for c, b in zip(categories, base_shares) if b == 0]
    rows = sorted(zip(categories, base_shares, win_shares), key=lambda r: (-max(r[1], r[2]), r[0]))
    return {
        "kind": "categorical",
        "statistic": "jensen_shannon",
        "value": value,
        "level": level("jensen_shannon", value),
        "categories": [{"category": c, "baseline": b, "window": w} for c, b, w in rows[:LISTED_CATEGORIES]],
        "unseen": unseen[:LISTED_CATEGORIES],
        "unseen_count": len(unseen),
    }


def column_drift(baseline, window):
    """Numeric when the baseline's values are all numbers, else categorical."""
    return numeric_drift(baseline, window) if is_numeric(baseline) else categorical_drift(baseline, window)


def _fmt(x):
    return f"{x:.6g}"


# ---------------------------------------------------------------------------------------------
# Payload files and baselines.


def parse_window(text):
    """'24h' or '7d' -> timedelta; anything else is a DriftError."""
    match = WINDOW.match(text or "")
    if not match:
        raise DriftError(f"window {text!r} is not a duration: write a whole number of hours or days, such as 24h or 7d")
    n, unit = int(match.group(1)), match.group(2)
    return timedelta(hours=n) if unit == "h" else timedelta(days=n)


def parse_time(text):
    """An ISO-8601 UTC time (`Z` or +00:00) -> aware datetime."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise DriftError(f"{text!r} is not an ISO-8601 time such as 2026-12-02T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise DriftError(f"{text!r} has no time zone: write it in UTC with a Z, such as 2026-12-02T12:00:00Z")
    return parsed.astimezone(timezone.utc)


def iso(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hour_folders(model, version, start, end):
    """The `<model>/<version>/date=…/hour=…` folders that can hold records of [start, end)."""
    folders = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        folders.append(f"{model}/{version}/date={hour:%Y-%m-%d}/hour={hour:%H}")
        hour += timedelta(hours=1)
    return folders


def read_records(payload_dir, model, version, start, end):
    """The successful requests of [start, end) in the payload files under payload_dir, and what was skipped."""
    records, skipped = [], 0
    for folder in hour_folders(model, version, start, end):
        path = os.path.join(payload_dir, *folder.split("/"))
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if not name.endswith(".jsonl"):
                continue
            with open(os.path.join(path, name), encoding="utf-8") as handle:
                for line in handle:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        record = json.loads(line)
                        moment = parse_time(record["time"])
                    except (ValueError, KeyError, TypeError, DriftError):
                        skipped += 1  # a torn last line of a file still being written, or not a record
                        continue
                    if not (start <= moment < end):
                        continue
                    status = record.get("status")
                    inputs = record.get("inputs")
                    if not (isinstance(status, int) and 200 <= status < 300 and isinstance(inputs, list)):
                        continue
                    records.append(record)
    return records, skipped


def window_rows(records):
    """(input rows, predictions) of the records; predictions only of records with one per row."""
    inputs, outputs = [], []
    for record in records:
        rows = [r for r in record["inputs"] if isinstance(r, dict)]
        inputs.extend(rows)
        out = record.get("outputs")
        if isinstance(out, list) and len(out) == len(record["inputs"]):
            outputs.extend(out)
    return inputs, outputs


def read_baseline(path):
    """Baseline rows from a CSV (header row), JSON (records, or a scoring request / MLflow input example) or JSON Lines file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise DriftError(f"baseline {path}: cannot read it ({err.strerror})") from None
    lower = path.lower()
    if lower.endswith(".csv"):
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        rows = [dict(r) for r in reader]
        if not rows:
            raise DriftError(f"baseline {path} has no rows (a CSV needs a header row and at least one row)")
        return [{k: _csv_value(v) for k, v in r.items()} for r in _typed_csv(rows)]
    if lower.endswith(".jsonl"):
        rows = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    elif lower.endswith(".json"):
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DriftError(f"baseline {path} is not valid JSON: {err}") from None
        # The copy the drift job keeps beside its reports ({"kind", "source", "rows"}), MLflow's
        # input_example.json / serving_input_example.json, and scoring requests.
        if isinstance(doc, dict) and isinstance(doc.get("rows"), list) and "kind" in doc:
            doc = doc["rows"]
        if isinstance(doc, dict) and "serving_input" in doc:
            doc = doc["serving_input"]
        if isinstance(doc, dict) and ("dataframe_split" in doc or ("columns" in doc and "data" in doc)):
            split = doc.get("dataframe_split", doc)
            rows = [dict(zip(split["columns"], row)) for row in split.get("data", [])]
        elif isinstance(doc, dict) and ("dataframe_records" in doc or "instances" in doc or "inputs" in doc):
            rows = doc.get("dataframe_records", doc.get("instances", doc.get("inputs")))
        else:
            rows = doc
    else:
        raise DriftError(f"baseline {path}: use a .csv (with a header row), .json or .jsonl file")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise DriftError(f"baseline {path} must hold rows: a list of {{column: value}} records, a scoring request or an MLflow input example")
    return rows


def _csv_value(value):
    return None if value == "" else value


def _typed_csv(rows):
    """CSV cells as numbers when the whole column reads as numbers (as register_model.py reads samples)."""
    columns = list(rows[0].keys())
    for column in columns:
        present = [r[column] for r in rows if r[column] not in ("", None)]
        try:
            converted = [float(v) for v in present]
        except ValueError:
            continue
        it = iter(converted)
        for r in rows:
            if r[column] not in ("", None):
                r[column] = next(it)
    return rows


def prediction_columns(outputs):
    """Predictions as columns: {'prediction': [...]}, or one column per key of object predictions."""
    if outputs and all(isinstance(o, dict) for o in outputs):
        keys = list(dict.fromkeys(k for o in outputs for k in o))
        return {f"{PREDICTION_COLUMN}.{k}": [o.get(k) for o in outputs] for k in keys}
    return {PREDICTION_COLUMN: [None if isinstance(o, (list, dict)) else o for o in outputs]}


# ---------------------------------------------------------------------------------------------
# The report.


def _worst(entries):
    ranked = [e for e in entries if e.get("level")]
    return max((LEVELS.index(e["level"]) for e in ranked), default=None)


def compare(baseline_rows, window_inputs, window_outputs, baseline_outputs=None, prediction_source=None):
    """The drift of window rows against baseline rows: per feature, and of the predictions."""
    baseline_rows = [dict(r) for r in baseline_rows]
    if baseline_outputs is None and any(PREDICTION_COLUMN in r for r in baseline_rows):
        baseline_outputs = [r.get(PREDICTION_COLUMN) for r in baseline_rows]
        prediction_source = "baseline"
    for r in baseline_rows:
        r.pop(PREDICTION_COLUMN, None)
    base_columns = list(dict.fromkeys(k for r in baseline_rows for k in r))
    window_columns = list(dict.fromkeys(k for r in window_inputs for k in r))
    features = []
    for column in base_columns:
        entry = {"feature": column}
        if window_inputs and column not in window_columns:
            entry.update({"kind": None, "statistic": None, "value": None, "level": None, "note": "not in the logged inputs (deny-listed, or no longer sent)"})
        else:
            entry.update(column_drift([r.get(column) for r in baseline_rows], [r.get(column) for r in window_inputs]))
        features.append(entry)
    extra = [c for c in window_columns if c not in base_columns]

    prediction = None
    if not window_outputs:
        prediction = {"note": "no predictions logged in the window"}
    elif not baseline_outputs:
        prediction = {"note": "no baseline predictions: the baseline has no prediction column and no predictions were logged in the previous window"}
    else:
        base_cols = prediction_columns(baseline_outputs)
        win_cols = prediction_columns(window_outputs)
        prediction = {"source": prediction_source, "outputs": []}
        for name, values in base_cols.items():
            if name in win_cols:
                prediction["outputs"].append({"output": name, **column_drift(values, win_cols[name])})
    worst = _worst(features + (prediction.get("outputs", []) if prediction else []))
    return {
        "features": features,
        "extra_features": extra,
        "prediction": prediction,
        "drifted_features": [f["feature"] for f in features if f.get("level") == "significant"],
        "level": LEVELS[worst] if worst is not None else None,
    }


def drift_report(payload_dir, model, version, baseline_path, window="24h", window_end=None, baseline_kind="dataset", baseline_source=None):
    """The report for one model version and window, from payload files under payload_dir."""
    length = parse_window(window)
    end = parse_time(window_end) if window_end else datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    start = end - length
    baseline_rows = read_baseline(baseline_path)
    records, skipped = read_records(payload_dir, model, version, start, end)
    inputs, outputs = window_rows(records)
    baseline_outputs, source = None, None
    if not any(PREDICTION_COLUMN in r for r in baseline_rows):
        previous, _ = read_records(payload_dir, model, version, start - length, start)
        baseline_outputs = window_rows(previous)[1] or None
        source = "previous-window" if baseline_outputs else None
    result = compare(baseline_rows, inputs, outputs, baseline_outputs, source)
    return {
        "model": model,
        "version": str(version),
        "window": {"start": iso(start), "end": iso(end), "length": window},
        "baseline": {"kind": baseline_kind, "source": baseline_source or (baseline_path if baseline_kind == "dataset" else "registered-sample"), "rows": len(baseline_rows)},
        "requests": len(records),
        "rows": len(inputs),
        "skipped_lines": skipped,
        "thresholds": THRESHOLDS,
        "epsilon": EPSILON,
        "bins": BINS,
        **result,
        "level": result["level"] if inputs else None,
        "status": "no-data" if not inputs else ("drift" if result["level"] == "significant" else "ok"),
    }


def metric_line(report):
    """The one JSON line the scheduled job prints for the alert (ContainerAppConsoleLogs): event `drift`."""
    psi = [f["value"] for f in report["features"] if f.get("statistic") == "psi" and f["value"] is not None]
    js = [f["value"] for f in report["features"] if f.get("statistic") == "jensen_shannon" and f["value"] is not None]
    prediction = report.get("prediction") or {}
    outputs = prediction.get("outputs", [])
    worst_prediction = _worst(outputs)
    return json.dumps(
        {
            "event": "drift",
            "model": report["model"],
            "version": report["version"],
            "window_end": report["window"]["end"],
            "rows": report["rows"],
            "status": report["status"],
            "level": report["level"],
            "max_psi": max(psi, default=None),
            "max_js": max(js, default=None),
            "drifted_features": len(report["drifted_features"]),
            "prediction_level": LEVELS[worst_prediction] if worst_prediction is not None else None,
        },
        separators=(",", ":"),
    )


def report_blob_name(model, version, window_end):
    """Where the report goes, beside the payloads: `<model>/<version>/drift/<window end>.json`."""
    return f"{model}/{version}/drift/{window_end}.json"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Drift of a model version's logged inputs and predictions against a baseline")
    parser.add_argument("--payloads", required=True, help="folder in the payload log's layout")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--baseline", required=True, help="CSV, JSON or JSON Lines file of baseline rows")
    parser.add_argument("--baseline-kind", default="dataset", choices=["dataset", "registered-sample"])
    parser.add_argument("--baseline-source", default=None, help="what the report names as the baseline (default: the file, or registered-sample)")
    parser.add_argument("--window", default="24h")
    parser.add_argument("--window-end", default=None, help="ISO-8601 UTC; default: the start of the current hour")
    parser.add_argument("--metric", action="store_true", help="also print the alert's metric line to stderr")
    args = parser.parse_args(argv)
    try:
        report = drift_report(args.payloads, args.model, args.version, args.baseline, args.window, args.window_end, args.baseline_kind, args.baseline_source)
    except DriftError as err:
        print(json.dumps({"error": str(err)}))
        return 2
    print(json.dumps(report, indent=2))
    if args.metric:
        print(metric_line(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
