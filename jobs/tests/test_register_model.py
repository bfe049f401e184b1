"""The registration script: pickle checks, flavour, requirements and samples as plain functions,
then whole runs of the script with a stand-in MLflow that answers as the registry does."""
import importlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import unittest

from jobs.tests.helpers import SCRIPT, calls, fake_libraries, fake_mlflow

LIBS = fake_libraries()
SERVING_SAMPLE = os.path.join(os.path.dirname(os.path.dirname(SCRIPT)), "serving", "sample-input.json")


def setUpModule():
    sys.path.insert(0, LIBS)
    importlib.invalidate_caches()


def tearDownModule():
    sys.path.remove(LIBS)
    for name in [m for m in sys.modules if m.split(".")[0] in ("sklearn", "scorer", "pandas")]:
        del sys.modules[name]


def rm():
    # Imported after setUpModule put the stand-in libraries on the path.
    from jobs import register_model

    return register_model


def pickled(obj):
    return pickle.dumps(obj, protocol=4)


class CheckPickleBytes(unittest.TestCase):
    def refused(self, data):
        with self.assertRaises(rm().RegistrationError) as caught:
            rm().check_pickle_bytes(data, "models/fraud/model.pkl")
        return str(caught.exception)

    def test_refuses_files_that_are_not_pickles_saying_what_they_look_like(self):
        self.assertEqual(self.refused(b""), "models/fraud/model.pkl is empty: it holds no pickled model")
        self.assertIn("is not a pickle: it is a zip archive", self.refused(b"PK\x03\x04rest"))
        self.assertIn("a gzip file (joblib.dump(..., compress=...)?)", self.refused(b"\x1f\x8b\x08rest"))
        self.assertIn("HTML or XML", self.refused(b"<!doctype html><title>404</title>"))
        self.assertIn("Parquet", self.refused(b"PAR1...."))

    def test_refuses_a_truncated_pickle_and_random_bytes(self):
        data = pickled({"a": list(range(50))})
        self.assertIn("is not a pickle (or is truncated)", self.refused(data[: len(data) // 2]))
        self.assertIn("is not a pickle (or is truncated)", self.refused(b"\x80\x04\xff\xfe\xfd"))

    def test_accepts_every_pickle_protocol(self):
        for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
            rm().check_pickle_bytes(pickle.dumps([1.5, "x"], protocol=protocol), "p.pkl")


class LoadPickle(unittest.TestCase):
    def test_a_sklearn_estimator_gets_the_sklearn_flavour_and_its_modules(self):
        from sklearn.linear_model import LogisticRegression

        model, modules = rm().load_pickle(pickled(LogisticRegression(threshold=50)), "m.pkl")
        self.assertEqual(model.threshold, 50)
        self.assertIn("sklearn.linear_model", modules)
        self.assertEqual(rm().choose_flavour(model), "sklearn")

    def test_another_object_with_predict_gets_the_pyfunc_wrapper(self):
        from scorer import ThresholdScorer

        model, modules = rm().load_pickle(pickled(ThresholdScorer()), "m.pkl")
        self.assertEqual(rm().choose_flavour(model), "pyfunc")
        self.assertEqual(modules, {"scorer"})

    def refused(self, data):
        with self.assertRaises(rm().RegistrationError) as caught:
            rm().load_pickle(data, "m.pkl")
        return str(caught.exception)

    def test_refuses_objects_without_predict(self):
        from scorer import NoPredict, ThresholdScorer

        self.assertEqual(self.refused(pickled([1, 2, 3])), "m.pkl holds a list, not a model: a model must have a predict method")
        self.assertEqual(self.refused(pickled(NoPredict())), "m.pkl holds a scorer.NoPredict, not a model: a model must have a predict method")
        self.assertEqual(
            self.refused(pickled({"model": ThresholdScorer(), "columns": ["a"]})),
            "m.pkl holds a dict, not a model: a model must have a predict method: its key 'model' holds one; pickle that object on its own",
        )
        self.assertEqual(self.refused(pickled({"weights": [1]})), "m.pkl holds a dict, not a model: a model must have a predict method (keys: weights)")
        self.assertIn("holds the class scorer.ThresholdScorer, not a fitted model", self.refused(pickled(ThresholdScorer)))

    def test_a_library_that_is_not_installed_is_named(self):
        # GLOBAL xgboost.sklearn.XGBClassifier, then NEWOBJ: what an XGBoost model's pickle starts with.
        message = self.refused(b"cxgboost.sklearn\nXGBClassifier\n)\x81.")
        self.assertTrue(message.startswith("m.pkl needs the Python module 'xgboost', which is not installed here"), message)

    def test_a_class_from_the_training_notebook_is_explained(self):
        message = self.refused(b"c__main__\nTrainedModel\n)\x81.")
        self.assertIn("defined in the script or notebook that trained it (__main__)", message)


class PinnedRequirements(unittest.TestCase):
    def test_pins_the_installed_distribution_of_each_library_the_pickle_used(self):
        self.assertEqual(rm().pinned_requirements({"sklearn.linear_model", "sklearn.base", "copyreg", "collections"}), ["scikit-learn==1.4.2"])
        self.assertEqual(rm().pinned_requirements({"scorer", "sklearn.base"}), ["fraud-scorer==0.3.0", "scikit-learn==1.4.2"])

    def test_uses_the_given_distribution_map_and_versions(self):
        pins = rm().pinned_requirements({"numpy.core.multiarray", "sklearn.tree._classes"}, {"numpy": ["numpy"], "sklearn": ["scikit-learn"]}, {"numpy": "1.26.4", "scikit-learn": "1.4.2"}.get)
        self.assertEqual(pins, ["numpy==1.26.4", "scikit-learn==1.4.2"])

    def test_a_module_no_package_provides_is_refused(self):
        with self.assertRaises(rm().RegistrationError) as caught:
            rm().pinned_requirements({"my_features.transformers", "sklearn.base"})
        self.assertTrue(str(caught.exception).startswith("the model uses my_features, which no installed package provides"), caught.exception)


class ReadSample(unittest.TestCase):
    def test_csv_columns_are_typed_per_column_and_limited_to_five_rows(self):
        text = "age,name,amount\n" + "\n".join(f"{30 + i},n{i},{i}.5" for i in range(8)) + "\n"
        columns, records = rm().read_sample(text.encode(), "data/fraud/sample.csv")
        self.assertEqual(columns, ["age", "name", "amount"])
        self.assertEqual(len(records), 5)
        self.assertEqual(records[0], {"age": 30, "name": "n0", "amount": 0.5})

    def test_mixed_and_empty_cells(self):
        columns, records = rm().read_sample(b"a,b\n1,\n2.5,x\n", "s.csv")
        self.assertEqual(records, [{"a": 1.0, "b": None}, {"a": 2.5, "b": "x"}])

    def test_bad_csv_files_are_refused_with_the_line(self):
        for data, expected in [
            (b"", "sample s.csv is empty: it needs a header row and at least one row"),
            (b"a,b\n", "sample s.csv has a header but no rows"),
            (b"a,b\n1,2\n3\n", "sample s.csv line 3 has 1 values, the header has 2 columns"),
        ]:
            with self.assertRaises(rm().RegistrationError) as caught:
                rm().read_sample(data, "s.csv")
            self.assertEqual(str(caught.exception), expected)

    def test_json_records_and_the_scoring_request_the_smoke_test_sends(self):
        columns, records = rm().read_sample(b'[{"a": 1, "b": 2.5}]', "s.json")
        self.assertEqual((columns, records), (["a", "b"], [{"a": 1, "b": 2.5}]))
        with open(SERVING_SAMPLE, "rb") as handle:
            columns, records = rm().read_sample(handle.read(), "serving/sample-input.json")
        self.assertEqual(len(columns), 14)
        self.assertEqual(records[0]["transaction_amount"], 120.5)

    def test_other_json_and_formats_are_refused(self):
        for data, path, expected in [
            (b"{not json", "s.json", "sample s.json is not valid JSON"),
            (b'{"a": 1}', "s.json", "sample s.json must be a list of records"),
            (b"a\tb", "s.tsv", "sample s.tsv: use a .csv (with a header row), .json or .parquet file"),
        ]:
            with self.assertRaises(rm().RegistrationError) as caught:
                rm().read_sample(data, path)
            self.assertTrue(str(caught.exception).startswith(expected), caught.exception)


class NamesAndAliases(unittest.TestCase):
    def test_unity_catalog_names_land_in_the_jobs_schema(self):
        self.assertEqual(rm().full_model_name("databricks-uc", "fraud", "main.dev"), "main.dev.fraud")
        self.assertEqual(rm().full_model_name("databricks-uc", "main.dev.fraud", "main.dev"), "main.dev.fraud")
        self.assertEqual(rm().full_model_name("databricks-uc", "main.risk.fraud", ""), "main.risk.fraud")
        self.assertEqual(rm().full_model_name("mlflow", "fraud", "main.dev"), "fraud")

    def test_other_schemas_and_bad_names_are_refused(self):
        for model, schema, expected in [
            ("main.prd.fraud", "main.dev", "model main.prd.fraud is outside main.dev, the schema this job registers into"),
            ("prd.fraud", "main.dev", "model 'prd.fraud' is not a Unity Catalog model name"),
            ("fraud", "", "model 'fraud': Unity Catalog names are catalog.schema.model"),
            ("main.dev.fr aud", "main.dev", "model 'main.dev.fr aud' is not a Unity Catalog model name"),
        ]:
            with self.assertRaises(rm().RegistrationError) as caught:
                rm().full_model_name("databricks-uc", model, schema)
            self.assertTrue(str(caught.exception).startswith(expected), caught.exception)

    def test_reserved_aliases_are_refused(self):
        self.assertEqual(rm().check_alias("challenger"), "challenger")
        self.assertIsNone(rm().check_alias(""))
        for alias in ("latest", "LATEST", "v1", "V12"):
            with self.assertRaises(rm().RegistrationError) as caught:
                rm().check_alias(alias)
            self.assertIn("is reserved by MLflow", str(caught.exception))
        with self.assertRaises(rm().RegistrationError):
            rm().check_alias("chal lenger")


class WaitUntilReady(unittest.TestCase):
    class Client:
        def __init__(self, statuses, message=""):
            self.statuses, self.message, self.asked = list(statuses), message, 0

        def get_model_version(self, name, version):
            self.asked += 1
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return type("MV", (), {"status": status, "status_message": self.message})()

    def test_polls_until_ready(self):
        client = self.Client(["PENDING_REGISTRATION", "PENDING_REGISTRATION", "READY"])
        rm().wait_until_ready(client, "fraud", "4", 60, sleep=lambda s: None)
        self.assertEqual(client.asked, 3)

    def test_failed_registration_reports_the_status_message(self):
        client = self.Client(["FAILED_REGISTRATION"], "Failed to copy model artifacts: 403")
        with self.assertRaises(rm().RegistrationError) as caught:
            rm().wait_until_ready(client, "fraud", "4", 60, sleep=lambda s: None)
        self.assertEqual(str(caught.exception), "version 4 of fraud failed to register (FAILED_REGISTRATION): Failed to copy model artifacts: 403")

    def test_a_version_that_stays_pending_times_out(self):
        clock = [0.0]
        client = self.Client(["PENDING_REGISTRATION"])
        with self.assertRaises(rm().RegistrationError) as caught:
            rm().wait_until_ready(client, "fraud", "4", 10, sleep=lambda s: clock.__setitem__(0, clock[0] + s), now=lambda: clock[0])
        self.assertIn("is still PENDING_REGISTRATION after 10 s", str(caught.exception))
        self.assertEqual(client.asked, 6)


class ReadBytes(unittest.TestCase):
    def test_local_files_and_missing_ones(self):
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(b"abc")
        self.assertEqual(rm().read_bytes(handle.name, "pickle"), b"abc")
        with self.assertRaises(rm().RegistrationError) as caught:
            rm().read_bytes("/nonexistent/model.pkl", "pickle")
        self.assertEqual(str(caught.exception), "pickle /nonexistent/model.pkl does not exist")

    def test_abfss_goes_through_spark_and_other_schemes_are_refused(self):
        seen = []
        uri = "abfss://models@mlplatdevmodels.dfs.core.windows.net/fraud/model.pkl"
        self.assertEqual(rm().read_bytes(uri, "pickle", lambda u, w: seen.append(u) or b"x"), b"x")
        self.assertEqual(seen, [uri])
        with self.assertRaises(rm().RegistrationError) as caught:
            rm().read_bytes("https://example.org/model.pkl", "pickle")
        self.assertIn("only local paths and abfss:// URIs", str(caught.exception))


class WholeRuns(unittest.TestCase):
    """The script run as a file, as the job and a laptop run it."""

    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.record = os.path.join(self.root, "calls.jsonl")
        self.sample = os.path.join(self.root, "sample.csv")
        with open(self.sample, "w", encoding="utf-8") as handle:
            handle.write("age,transaction_amount\n35,120.5\n41,20.0\n")

    def write_pickle(self, expression):
        path = os.path.join(self.root, "model.pkl")
        code = f"import pickle, sklearn.linear_model, scorer\nwith open({path!r}, 'wb') as f: pickle.dump({expression}, f)"
        subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": LIBS})
        return path

    def run_script(self, args, mlflow_root=None, env=None):
        paths = [p for p in (mlflow_root, LIBS) if p]
        full_env = {"PYTHONPATH": os.pathsep.join(paths), **(env or {})}
        result = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, env=full_env, timeout=60)
        last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "{}"
        return result, json.loads(last)

    def test_a_sklearn_pickle_into_unity_catalog_with_sample_and_alias(self):
        pkl = self.write_pickle("sklearn.linear_model.LogisticRegression(threshold=100)")
        fake = fake_mlflow(self.record, statuses=("PENDING_REGISTRATION", "READY"))
        result, line = self.run_script(
            ["--pickle", pkl, "--model", "fraud", "--sample", self.sample, "--alias", "challenger", "--registry", "databricks-uc",
             "--schema", "main.dev", "--experiment", "/Shared/mlflow-platform/registrations"], fake)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(line, {"name": "main.dev.fraud", "version": "4", "model_uri": "models:/main.dev.fraud/4", "flavour": "sklearn", "alias": "challenger"})
        seen = calls(self.record)
        self.assertEqual([c["call"] for c in seen], [
            "set_tracking_uri", "set_registry_uri", "set_experiment", "start_run", "sklearn.log_model", "end_run",
            "register_model", "get_model_version", "get_model_version", "set_registered_model_alias",
        ])
        self.assertEqual((seen[0]["uri"], seen[1]["uri"]), ("databricks", "databricks-uc"))
        logged = seen[4]
        self.assertEqual(logged["artifact_path"], "model", "MLflow 2 names the logged model with artifact_path")
        self.assertEqual(logged["pip_requirements"], ["mlflow==2.11.3", "scikit-learn==1.4.2"])
        self.assertEqual(logged["signature"], {"inputs": ["age", "transaction_amount"], "outputs": 2})
        self.assertEqual(logged["input_example_rows"], 2)
        self.assertEqual(logged["model_class"], "sklearn.linear_model.LogisticRegression")
        self.assertEqual(seen[6]["model_uri"], "runs:/0123456789abcdef/model")
        self.assertEqual(seen[6]["name"], "main.dev.fraud")
        self.assertEqual(seen[9], {"call": "set_registered_model_alias", "name": "main.dev.fraud", "alias": "challenger", "version": "4"})

    def test_another_model_on_a_self_hosted_mlflow_3_gets_the_pyfunc_wrapper(self):
        pkl = self.write_pickle("scorer.ThresholdScorer(threshold=50)")
        fake = fake_mlflow(self.record, version="3.1.0")
        result, line = self.run_script(["--pickle", pkl, "--model", "fraud", "--sample", SERVING_SAMPLE], fake,
                                       {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(line, {"name": "fraud", "version": "4", "model_uri": "models:/fraud/4", "flavour": "pyfunc"})
        seen = calls(self.record)
        self.assertNotIn("set_tracking_uri", [c["call"] for c in seen], "a self-hosted server comes from MLFLOW_TRACKING_URI")
        logged = next(c for c in seen if c["call"] == "pyfunc.log_model")
        self.assertEqual(logged["name"], "model", "MLflow 3 names the logged model with name")
        self.assertNotIn("artifact_path", logged)
        self.assertEqual(logged["pip_requirements"], ["fraud-scorer==0.3.0", "mlflow==3.1.0"])
        self.assertEqual(logged["wrapper_loads_pickle"], "ThresholdScorer")
        self.assertTrue(logged["wrapper_is_python_model"])
        self.assertEqual(logged["signature"]["inputs"][-1], "transaction_amount")

    def test_failed_registration_is_reported_with_its_message_and_no_alias_is_set(self):
        pkl = self.write_pickle("sklearn.linear_model.LogisticRegression()")
        fake = fake_mlflow(self.record, statuses=("PENDING_REGISTRATION", "FAILED_REGISTRATION"), failure_message="Model artifacts could not be copied")
        result, line = self.run_script(["--pickle", pkl, "--model", "fraud", "--alias", "challenger"], fake)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(line, {"error": "version 4 of fraud failed to register (FAILED_REGISTRATION): Model artifacts could not be copied"})
        self.assertNotIn("set_registered_model_alias", [c["call"] for c in calls(self.record)])
        self.assertNotIn("Traceback", result.stderr)

    def test_a_registry_refusal_shows_its_code_and_first_line_only(self):
        pkl = self.write_pickle("sklearn.linear_model.LogisticRegression()")
        fake = fake_mlflow(self.record, alias_error="User does not have MANAGE on main.dev.fraud\nmore detail")
        result, line = self.run_script(["--pickle", pkl, "--model", "fraud", "--alias", "challenger", "--registry", "databricks-uc", "--schema", "main.dev"], fake)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(line, {"error": "MlflowException PERMISSION_DENIED: User does not have MANAGE on main.dev.fraud"})
        self.assertNotIn("Traceback", result.stderr)

    def test_bad_input_stops_before_mlflow_is_called(self):
        fake = fake_mlflow(self.record)
        not_model = self.write_pickle("[1, 2]")
        for args, expected in [
            (["--pickle", not_model, "--model", "fraud"], f"{not_model} holds a list, not a model"),
            (["--pickle", os.path.join(self.root, "missing.pkl"), "--model", "fraud"], "does not exist"),
            (["--pickle", not_model, "--model", "fraud", "--alias", "latest"], "alias 'latest' is reserved by MLflow"),
        ]:
            result, line = self.run_script(args, fake)
            self.assertEqual(result.returncode, 1, result.stderr)
            self.assertIn(expected, line["error"])
        self.assertEqual(calls(self.record), [])

    def test_the_jobs_empty_parameters_mean_no_sample_and_no_alias(self):
        pkl = self.write_pickle("sklearn.linear_model.LogisticRegression()")
        fake = fake_mlflow(self.record)
        # As the job passes them: one --name=value token each, empty when not given.
        result, line = self.run_script([f"--pickle={pkl}", "--model=fraud", "--sample=", "--alias=", "--registry", "databricks-uc", "--schema", "main.dev"], fake)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(line, {"name": "main.dev.fraud", "version": "4", "model_uri": "models:/main.dev.fraud/4", "flavour": "sklearn"})
        logged = next(c for c in calls(self.record) if c["call"] == "sklearn.log_model")
        self.assertIsNone(logged["signature"])
        self.assertNotIn("set_registered_model_alias", [c["call"] for c in calls(self.record)])

    def test_without_mlflow_it_says_how_to_install_it(self):
        pkl = self.write_pickle("scorer.ThresholdScorer()")
        result, line = self.run_script(["--pickle", pkl, "--model", "fraud"])
        self.assertEqual(result.returncode, 1)
        self.assertTrue(line["error"].startswith("MLflow is not installed here"), line)


if __name__ == "__main__":
    unittest.main()
