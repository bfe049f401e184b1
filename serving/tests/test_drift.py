"""serving/drift.py: the statistics against values worked out by hand, and the report from payload files."""
import json
import math
import os
import tempfile
import unittest

from serving import drift


class Levels(unittest.TestCase):
    def test_psi_thresholds_are_0_1_and_0_25_inclusive(self):
        self.assertEqual(drift.level("psi", 0.0999), "stable")
        self.assertEqual(drift.level("psi", 0.1), "moderate")
        self.assertEqual(drift.level("psi", 0.2499), "moderate")
        self.assertEqual(drift.level("psi", 0.25), "significant")

    def test_jensen_shannon_thresholds_are_0_1_and_0_2(self):
        self.assertEqual(drift.level("jensen_shannon", 0.0999), "stable")
        self.assertEqual(drift.level("jensen_shannon", 0.1), "moderate")
        self.assertEqual(drift.level("jensen_shannon", 0.2), "significant")
        self.assertIsNone(drift.level("psi", None))


class Psi(unittest.TestCase):
    def test_two_bins_cut_at_the_baseline_median(self):
        # Baseline 1,2,3,4: median 2.5, shares 0.5 / 0.5. Window 1,1,1,4: 0.75 / 0.25.
        # PSI = (0.75-0.5) ln(0.75/0.5) + (0.25-0.5) ln(0.25/0.5) = 0.25 ln 1.5 + 0.25 ln 2 = 0.2746530722
        result = drift.numeric_drift([1, 2, 3, 4], [1, 1, 1, 4], bins=2)
        self.assertAlmostEqual(result["value"], 0.2746530722, places=9)
        self.assertEqual(result["level"], "significant")
        self.assertEqual([b["bin"] for b in result["bins"]], ["(-inf, 2.5]", "(2.5, inf)"])
        self.assertEqual([(b["baseline"], b["window"]) for b in result["bins"]], [(0.5, 0.75), (0.5, 0.25)])

    def test_an_empty_bin_counts_as_epsilon(self):
        # Window 1,2: shares 1 / 0 -> 1 / 1e-4.
        # PSI = 0.5 ln 2 + (1e-4 - 0.5) ln(1e-4 / 0.5) = 0.3465735903 + 0.4999 x 8.5171931914 = 0.3465735903 + 4.2577448764 = 4.6043184667
        result = drift.numeric_drift([1, 2, 3, 4], [1, 2], bins=2)
        self.assertAlmostEqual(result["value"], 4.6043184667, places=8)
        self.assertEqual(drift.EPSILON, 1e-4)

    def test_the_same_distribution_is_zero(self):
        result = drift.numeric_drift(list(range(1, 101)), list(range(1, 101)))
        self.assertEqual(result["value"], 0.0)
        self.assertEqual(result["level"], "stable")
        self.assertEqual(len(result["bins"]), 10)

    def test_decile_bins_of_one_to_ten_put_one_baseline_value_in_each(self):
        # numpy's linear quantiles of 1..10 at 0.1..0.9: 1.9, 2.8, ..., 9.1. Window: five 1s, five 10s.
        # PSI = 2 (0.5-0.1) ln 5 + 8 (1e-4 - 0.1) ln(1e-4/0.1) = 0.8 ln 5 + 0.7992 ln 1000 = 6.8082317...
        result = drift.numeric_drift(list(range(1, 11)), [1] * 5 + [10] * 5)
        self.assertEqual(result["bins"][0]["bin"], "(-inf, 1.9]")
        self.assertEqual(result["bins"][-1]["bin"], "(9.1, inf)")
        self.assertTrue(all(abs(b["baseline"] - 0.1) < 1e-12 for b in result["bins"]))
        self.assertAlmostEqual(result["value"], 0.8 * math.log(5) + 8 * 0.0999 * math.log(1000), places=9)
        self.assertAlmostEqual(result["value"], 6.80823, places=4)

    def test_bins_are_closed_on_the_right(self):
        # Edges of 1,2,3,4 at quartiles: 1.75, 2.5, 3.25; 2.5 falls in (1.75, 2.5].
        result = drift.numeric_drift([1, 2, 3, 4], [2.5], bins=4)
        self.assertEqual([b["window"] for b in result["bins"]], [0, 1.0, 0, 0])

    def test_repeated_cut_points_are_merged(self):
        self.assertEqual(list(drift.bin_edges([5, 5, 5, 5, 9], bins=4)), [5.0])

    def test_missing_values_are_a_bin_of_their_own(self):
        # Baseline 1,2,3,None (bins=2: cut at 2): shares 0.5, 0.25, missing 0.25. Window 1,None,None,None: 0.25, 0 (eps), 0.75.
        # PSI = (0.25-0.5) ln 0.5 + (1e-4-0.25) ln(1e-4/0.25) + (0.75-0.25) ln 3 = 0.1732868 + 1.9557806 + 0.5493061
        result = drift.numeric_drift([1, 2, 3, None], [1, None, None, None], bins=2)
        self.assertEqual(result["bins"][-1]["bin"], "missing")
        self.assertAlmostEqual(result["value"], 0.25 * math.log(2) + 0.2499 * math.log(2500) + 0.5 * math.log(3), places=9)


class JensenShannon(unittest.TestCase):
    def test_hand_computed_distance_with_an_unseen_category(self):
        # P = (a .5, b .5, c 0), Q = (a .75, b 0, c .25), M = (.625, .25, .125).
        # JSD = .5 (.5 log2(.5/.625) + .5 log2 2) + .5 (.75 log2(.75/.625) + .25 log2 2) = 0.3931560, distance 0.6270215
        result = drift.categorical_drift(["a", "a", "b", "b"], ["a", "a", "a", "c"])
        self.assertAlmostEqual(result["value"], 0.6270215, places=6)
        self.assertEqual(result["unseen"], ["c"])
        self.assertEqual(result["unseen_count"], 1)
        self.assertEqual(result["level"], "significant")

    def test_agrees_with_scipy(self):
        from scipy.spatial.distance import jensenshannon

        p, q = [0.2, 0.3, 0.5, 0.0], [0.1, 0.1, 0.4, 0.4]
        self.assertAlmostEqual(drift.jensen_shannon_distance(p, q), float(jensenshannon(p, q, base=2)), places=12)

    def test_the_same_is_zero_and_disjoint_is_one(self):
        self.assertEqual(drift.categorical_drift(["x", "y"], ["y", "x"])["value"], 0.0)
        self.assertAlmostEqual(drift.categorical_drift(["x"], ["y"])["value"], 1.0, places=12)

    def test_booleans_and_missing_values_are_categories(self):
        result = drift.column_drift([True, False, None], [True, True, True])
        self.assertEqual(result["kind"], "categorical")
        self.assertEqual({c["category"] for c in result["categories"]}, {"true", "false", "(missing)"})


def write_payloads(root, model, version, records_by_hour):
    """Payload files in the payload log's layout: {"2026-12-02T10": [record, ...]}."""
    for hour, records in records_by_hour.items():
        date, hh = hour.split("T")
        folder = os.path.join(root, model, version, f"date={date}", f"hour={hh}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "fraud--r1-7-1.jsonl"), "w", encoding="utf-8") as handle:
            for r in records:
                handle.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


def record(time, inputs, outputs, status=200):
    return {"time": time, "request_id": "x", "model": "fraud", "version": "3", "revision": "fraud--r1", "status": status, "inputs": inputs, "outputs": outputs}


class Report(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.baseline = os.path.join(self.root, "baseline.csv")
        with open(self.baseline, "w", encoding="utf-8") as handle:
            handle.write("amount,country\n1,NL\n2,NL\n3,DE\n4,DE\n")

    def test_report_of_a_window_reads_only_its_successful_requests(self):
        write_payloads(
            os.path.join(self.root, "p"),
            "fraud",
            "3",
            {
                # The previous window (08:00-10:00): predictions 0, 0.
                "2026-12-02T09": [record("2026-12-02T09:30:00.000Z", [{"amount": 1, "country": "NL"}, {"amount": 2, "country": "NL"}], [0, 0])],
                "2026-12-02T10": [
                    record("2026-12-02T10:00:00.000Z", [{"amount": 1, "country": "NL"}, {"amount": 1, "country": "NL"}], [0, 1]),
                    record("2026-12-02T10:10:00.000Z", [{"amount": 99, "country": "FR"}], None, status=400),
                    '{"time": "2026-12-02T10:20',  # a torn line
                ],
                "2026-12-02T11": [
                    record("2026-12-02T11:59:59.999Z", [{"amount": 1, "country": "NL"}, {"amount": 4, "country": "FR"}], [1, 1]),
                ],
                "2026-12-02T12": [record("2026-12-02T12:00:00.000Z", [{"amount": 50, "country": "US"}], [1])],
            },
        )
        report = drift.drift_report(os.path.join(self.root, "p"), "fraud", "3", self.baseline, "2h", "2026-12-02T12:00:00Z")
        self.assertEqual(report["window"], {"start": "2026-12-02T10:00:00Z", "end": "2026-12-02T12:00:00Z", "length": "2h"})
        self.assertEqual((report["requests"], report["rows"], report["skipped_lines"]), (2, 4, 1))
        amount, country = report["features"]
        # amount: baseline 1,2,3,4 (deciles) against 1,1,1,4: the hand-computable 2-bin case does not apply to 10 bins,
        # so check the shares: three of four window rows at 1 fall in the first bin (-inf, 1.3].
        self.assertEqual(amount["bins"][0], {"bin": "(-inf, 1.3]", "baseline": 0.25, "window": 0.75})
        self.assertEqual(country["unseen"], ["FR"])
        # Predictions against the previous window (0, 0): window 0,1,1,1 -> numeric PSI.
        self.assertEqual(report["prediction"]["source"], "previous-window")
        self.assertEqual(report["prediction"]["outputs"][0]["output"], "prediction")
        self.assertEqual(report["status"], "drift")
        self.assertIn("amount", report["drifted_features"])

    def test_the_window_is_by_each_record_s_time_not_its_file_s_hour(self):
        # A file opened at 10:59 holds records past the hour: only those inside [10:00, 11:00) count.
        write_payloads(
            os.path.join(self.root, "p"),
            "fraud",
            "3",
            {
                "2026-12-02T10": [
                    record("2026-12-02T09:59:59.999Z", [{"amount": 1, "country": "NL"}], [0]),
                    record("2026-12-02T10:00:00.000Z", [{"amount": 2, "country": "NL"}], [0]),
                    record("2026-12-02T10:59:59.999Z", [{"amount": 3, "country": "NL"}], [0]),
                    record("2026-12-02T11:00:00.000Z", [{"amount": 4, "country": "NL"}], [0]),
                ]
            },
        )
        report = drift.drift_report(os.path.join(self.root, "p"), "fraud", "3", self.baseline, "1h", "2026-12-02T11:00:00Z")
        self.assertEqual((report["requests"], report["rows"]), (2, 2))

    def test_a_prediction_column_in_the_baseline_is_the_prediction_baseline(self):
        with open(self.baseline, "w", encoding="utf-8") as handle:
            handle.write("amount,prediction\n1,0\n2,0\n3,1\n4,1\n")
        write_payloads(os.path.join(self.root, "p"), "fraud", "3", {"2026-12-02T10": [record("2026-12-02T10:05:00Z", [{"amount": 1}, {"amount": 2}, {"amount": 3}, {"amount": 4}], [0, 0, 1, 1])]})
        report = drift.drift_report(os.path.join(self.root, "p"), "fraud", "3", self.baseline, "1h", "2026-12-02T11:00:00Z")
        self.assertEqual([f["feature"] for f in report["features"]], ["amount"])
        self.assertEqual(report["prediction"]["source"], "baseline")
        self.assertEqual(report["prediction"]["outputs"][0]["value"], 0.0)
        self.assertEqual(report["status"], "ok")

    def test_an_empty_window_is_no_data(self):
        report = drift.drift_report(os.path.join(self.root, "none"), "fraud", "3", self.baseline, "24h", "2026-12-02T12:00:00Z")
        self.assertEqual((report["status"], report["rows"], report["level"]), ("no-data", 0, None))
        self.assertIn("no predictions", report["prediction"]["note"])

    def test_an_mlflow_input_example_is_a_baseline(self):
        path = os.path.join(self.root, "input_example.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"columns": ["amount", "country"], "data": [[1, "NL"], [2, "DE"]]}, handle)
        self.assertEqual(drift.read_baseline(path), [{"amount": 1, "country": "NL"}, {"amount": 2, "country": "DE"}])

    def test_object_predictions_are_one_column_per_key(self):
        self.assertEqual(drift.prediction_columns([{"label": "a", "p": 0.2}, {"label": "b", "p": 0.9}]), {"prediction.label": ["a", "b"], "prediction.p": [0.2, 0.9]})

    def test_bad_window_and_time_are_drift_errors(self):
        for window in ("24", "0h", "1.5h", "24m", ""):
            with self.assertRaises(drift.DriftError):
                drift.parse_window(window)
        self.assertEqual(drift.parse_window("7d").total_seconds(), 7 * 86400)
        with self.assertRaises(drift.DriftError):
            drift.parse_time("2026-12-02T12:00:00")

    def test_metric_line_carries_what_the_alert_reads(self):
        write_payloads(os.path.join(self.root, "p"), "fraud", "3", {"2026-12-02T10": [record("2026-12-02T10:05:00Z", [{"amount": 9, "country": "NL"}], [1])]})
        report = drift.drift_report(os.path.join(self.root, "p"), "fraud", "3", self.baseline, "1h", "2026-12-02T11:00:00Z")
        line = json.loads(drift.metric_line(report))
        self.assertEqual(line["event"], "drift")
        self.assertEqual((line["model"], line["version"], line["window_end"], line["level"]), ("fraud", "3", "2026-12-02T11:00:00Z", "significant"))
        self.assertGreater(line["max_psi"], 0.25)
        self.assertEqual(drift.report_blob_name("fraud", "3", line["window_end"]), "fraud/3/drift/2026-12-02T11:00:00Z.json")


if __name__ == "__main__":
    unittest.main()
