"""Trains the demo fraud model and writes what a data scientist would upload for registration.

    python serving/demo/train_demo_model.py --out DIR [--rows 2000] [--seed 7]

Writes, in DIR:
- model.pkl: a fitted scikit-learn Pipeline (scaler + logistic regression), pickled with pickle;
- sample.csv: the first rows of its training data, with a header (the registration sample);
- expected.json: {"columns", "rows", "predictions"}: the model's own predict() on the rows of
  serving/sample-input.json and of sample.csv, so a test can compare a served endpoint's answers.

The 14 columns are those of serving/sample-input.json. The data are synthetic (no download):
fraud is likelier for large transactions far from the account's balances.
"""
import argparse
import json
import os
import pickle
import sys

SERVING_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_ROWS = 20


def columns():
    with open(os.path.join(SERVING_DIR, "sample-input.json"), encoding="utf-8") as handle:
        return json.load(handle)["dataframe_split"]["columns"]


def training_data(rows, seed):
    import numpy
    import pandas

    names = columns()
    rng = numpy.random.default_rng(seed)
    data = {name: rng.gamma(2.0, 5000.0, rows).round(1) for name in names}
    data["age"] = rng.integers(18, 90, rows).astype(float)
    data["longitude"] = rng.uniform(-180, 180, rows).round(4)
    data["latitude"] = rng.uniform(-90, 90, rows).round(4)
    data["transaction_amount"] = rng.gamma(1.5, 300.0, rows).round(2)
    frame = pandas.DataFrame(data, columns=names)
    risk = frame["transaction_amount"] / (frame["bank_account_balance"] + 500.0) + rng.normal(0, 0.05, rows)
    labels = (risk > risk.quantile(0.8)).astype(int)
    return frame, labels


def main(argv):
    parser = argparse.ArgumentParser(description="Train the demo fraud model and write model.pkl, sample.csv and expected.json.")
    parser.add_argument("--out", required=True, help="folder to write into")
    parser.add_argument("--rows", type=int, default=2000, help="training rows (default 2000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args(argv)
    try:
        import pandas
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as err:
        print(f"train_demo_model: {err.name} is not installed: run it with the project's Python environment (npm run python-env -- --print)", file=sys.stderr)
        return 1
    frame, labels = training_data(args.rows, args.seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(frame, labels)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "model.pkl"), "wb") as handle:
        pickle.dump(model, handle)
    sample = frame.head(SAMPLE_ROWS)
    sample.to_csv(os.path.join(args.out, "sample.csv"), index=False)
    with open(os.path.join(SERVING_DIR, "sample-input.json"), encoding="utf-8") as handle:
        request = json.load(handle)["dataframe_split"]
    request_rows = pandas.DataFrame(request["data"], columns=request["columns"])
    expected = {
        "columns": list(frame.columns),
        "sample_input_predictions": [int(v) for v in model.predict(request_rows)],
        "sample_csv_predictions": [int(v) for v in model.predict(sample)],
    }
    with open(os.path.join(args.out, "expected.json"), "w", encoding="utf-8") as handle:
        json.dump(expected, handle)
    print(json.dumps({"model": os.path.join(args.out, "model.pkl"), "sample": os.path.join(args.out, "sample.csv"), "rows": args.rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
