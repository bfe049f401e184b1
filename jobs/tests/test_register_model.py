"""The registration script with the real libraries: scikit-learn, pandas, pyarrow and a real MLflow
tracking server (tests/helpers/mlflow_server.py; `npm test` passes its servers in
MLFLOW_TEST_SERVERS, run alone the suite starts its own). Only wait_until_ready's FAILED and
timeout paths, which a real server does not produce on demand, use a client double."""
import contextlib
import importlib
import importlib.metadata
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

from jobs.tests.helpers import (
    PYTHON,
    SCRIPT,
    SERVING_SAMPLE,
    RunsEval,
    RunsExec,
    RunsShell,
    clean_env,
    demo_model,
    fraud_scorer_path,
    getattr_system_pickle,
    run_script,
    stack_global_pickle,
    unique_name,
    write_pickle,
)
from jobs import register_model as rm

EXTRA_PATH = fraud_scorer_path()


def setUpModule():
    # The test package's model library, importable as the installed package fraud_scorer.
    for entry in EXTRA_PATH:
        sys.path.insert(0, entry)
    importlib.invalidate_caches()


def tearDownModule():
    for entry in EXTRA_PATH:
        sys.path.remove(entry)


def scorer():
    import fraud_scorer

    return fraud_scorer


def pickled(obj, protocol=4):
    return pickle.dumps(obj, protocol=protocol)


def refused(fn, *args):
    with mock.patch.dict(os.environ):  # nothing a refusal does may leak into the environment
        try:
            fn(*args)
        except rm.RegistrationError as err:
            return str(err)
    raise AssertionError(f"{fn.__name__} did not refuse")


def version_of(dist):
    return importlib.metadata.version(dist)


class CheckPickleBytes(unittest.TestCase):
    def test_refuses_files_that_are_not_pickles_saying_what_they_look_like(self):
        check = lambda data: refused(rm.check_pickle_bytes, data, "models/fraud/model.pkl")  # noqa: E731
        self.assertEqual(check(b""), "models/fraud/model.pkl is empty: it holds no pickled model")
        self.assertIn("is not a pickle: it is a zip archive", check(b"PK\x03\x04rest"))
        self.assertIn("a gzip file (joblib.dump(..., compress=...)?)", check(b"\x1f\x8b\x08rest"))
        self.assertIn("HTML or XML", check(b"<!doctype html><title>404</title>"))
        self.assertIn("Parquet", check(b"PAR1...."))

    def test_refuses_a_truncated_pickle_and_random_bytes(self):
        data = pickled({"a": list(range(50))})
        self.assertIn("is not a pickle (or is truncated)", refused(rm.check_pickle_bytes, data[: len(data) // 2], "p.pkl"))
        self.assertIn("is not a pickle (or is truncated)", refused(rm.check_pickle_bytes, b"\x80\x04\xff\xfe\xfd", "p.pkl"))

    def test_accepts_every_pickle_protocol(self):
        for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
            rm.check_pickle_bytes(pickle.dumps([1.5, "x"], protocol=protocol), "p.pkl")


class MaliciousPickles(unittest.TestCase):
    """Pickles that run code when loaded are refused before anything is unpickled."""

    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="evil-")
        self.marker = os.path.join(self.folder, "marker")

    def refused(self, data):
        message = refused(rm.load_pickle, data, "evil.pkl")
        self.assertFalse(os.path.exists(self.marker), "the pickle's code ran")
        self.assertTrue(message.startswith("evil.pkl refused "), message)
        return message

    def test_the_exploits_work_when_loaded_without_the_scan(self):
        # So the refusals below are of pickles that really run code.
        for data in (pickled(RunsShell(self.marker)), pickled(RunsExec(self.marker)), stack_global_pickle(self.marker), getattr_system_pickle(self.marker)):
            pickle.loads(data)
            self.assertTrue(os.path.exists(self.marker), data)
            os.remove(self.marker)

    def test_os_system_in_every_protocol(self):
        for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
            message = self.refused(pickled(RunsShell(self.marker), protocol))
            # os.system is pickled under its real module name: posix on Linux.
            self.assertIn("it imports posix.system, which can run commands or code", message)
            self.assertIn("is never allowed", message)

    def test_exec_and_eval(self):
        for protocol in (2, 4, 5):
            self.assertIn("imports builtins.exec,", self.refused(pickled(RunsExec(self.marker), protocol)))
            self.assertIn("imports builtins.eval,", self.refused(pickled(RunsEval(self.marker), protocol)))

    def test_protocol_2_names_of_python_2(self):
        # c__builtin__\neval: protocols 0-2 map Python 2 names as pickle itself does (fix_imports).
        data = b"c__builtin__\neval\n(Vopen(%r,'w')\ntR." % self.marker.encode()
        self.assertIn("imports builtins.eval,", self.refused(data))

    def test_a_protocol_4_stack_global_from_memoized_strings(self):
        data = stack_global_pickle(self.marker)
        self.assertIn("imports os.system,", self.refused(data))

    def test_an_exploit_nested_inside_a_dict_of_real_objects(self):
        import numpy

        data = pickled({"weights": numpy.arange(3), "steps": [("scale", 1.0), ("x", RunsShell(self.marker))]}, 4)
        self.assertIn("imports posix.system", self.refused(data))

    def test_getattr_tricks(self):
        self.assertIn("imports builtins.getattr,", self.refused(getattr_system_pickle(self.marker)))
        # Protocol 4 resolves dotted names attribute by attribute: pandas.io.common has os.
        data = b"\x80\x04\x8c\x10pandas.io.common\x8c\tos.system\x93\x8c\x05touch\x85R."
        self.assertIn("imports pandas.io.common.os.system,", self.refused(data))
        data = b"\x80\x02cpandas.io.common\nos\n."
        self.assertIn("imports pandas.io.common.os,", self.refused(data))
        self.assertIn("imports sklearn.__builtins__,", self.refused(b"\x80\x02csklearn\n__builtins__\n."))
        self.assertIn("imports operator.attrgetter,", self.refused(b"\x80\x02coperator\nattrgetter\n."))

    def test_functions_of_allowed_libraries_that_load_files_or_run_code(self):
        for module, name in [("pandas", "read_pickle"), ("numpy", "load"), ("pandas", "eval"), ("numpy.f2py", "compile"), ("joblib", "load")]:
            message = self.refused(f"\x80\x02c{module}\n{name}\n.".encode("latin-1"))
            self.assertIn(f"imports {module}.{name},", message)

    def test_a_stack_global_whose_strings_cannot_be_followed(self):
        # The module name comes out of a REDUCE (str.join), not from a string push.
        data = b"\x80\x04cbuiltins\nstr\n\x8c\x02os\x85R\x8c\x06system\x93."
        message = self.refused(data)
        self.assertIn("whose module and name the scan cannot tell", message)

    def test_the_extension_registry(self):
        self.assertIn("copyreg's extension registry", self.refused(b"\x80\x02\x82\x01."))

    def test_the_whole_script_refuses_it_before_mlflow(self):
        path = write_pickle(self.folder, RunsShell(self.marker))
        out = io.StringIO()
        with mock.patch.object(rm, "_import_mlflow", side_effect=AssertionError("MLflow was reached")), contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(rm.main(["--pickle", path, "--model", "fraud"], out=out), 1)
        self.assertFalse(os.path.exists(self.marker))
        self.assertIn("imports posix.system", json.loads(out.getvalue().splitlines()[-1])["error"])


class RealPicklesPass(unittest.TestCase):
    def test_a_sklearn_pipeline_in_protocols_2_to_5(self):
        with open(demo_model()["model"], "rb") as handle:
            pipeline = pickle.load(handle)
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            model, modules = rm.load_pickle(pickled(pipeline, protocol), "m.pkl")
            self.assertEqual(type(model).__name__, "Pipeline")
            self.assertIn("sklearn.pipeline", modules)

    def test_numpy_pandas_and_other_estimators(self):
        import numpy
        import pandas
        import scipy.sparse
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.preprocessing import FunctionTransformer

        frame = pandas.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": pandas.to_datetime(["2026-01-01", "2026-01-02"]), "d": pandas.Categorical(["u", "v"])})
        forest = RandomForestClassifier(n_estimators=2, random_state=numpy.random.RandomState(1)).fit([[0, 1], [1, 0]] * 3, [0, 1] * 3)
        knn = KNeighborsClassifier(n_neighbors=1, algorithm="kd_tree").fit([[0, 1], [1, 0]], [0, 1])
        data = {"frame": frame, "series": frame["b"], "array": numpy.arange(3.0), "generator": numpy.random.default_rng(1), "sparse": scipy.sparse.csr_matrix([[0, 1]]),
                "log": FunctionTransformer(numpy.log1p), "forest": forest, "knn": knn,
                # Functions whose names are also names of modules that are never allowed.
                "words": [numpy.select, numpy.trace, numpy.resize]}
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            found, _ = rm.pickle_globals(pickled(data, protocol))
            policy = rm.GlobalPolicy()
            self.assertEqual([(m, n) for m, n, _ in found if policy.refusal(m, n)], [], protocol)
            # And they unpickle through the guarded unpickler.
            rm._GuardedUnpickler(io.BytesIO(pickled(data, protocol)), policy, protocol, "d.pkl").load()

    def test_protocols_0_and_1_use_python_2_names_that_are_mapped(self):
        from sklearn.linear_model import LogisticRegression

        for protocol in (0, 1):
            model, _ = rm.load_pickle(pickled(LogisticRegression(), protocol), "m.pkl")
            self.assertEqual(type(model).__name__, "LogisticRegression")


class AllowingMore(unittest.TestCase):
    def test_a_users_own_package_needs_allow_module_or_allow_global(self):
        data = pickled(scorer().ThresholdScorer(50))
        message = refused(rm.load_pickle, data, "m.pkl")
        self.assertIn("imports fraud_scorer.ThresholdScorer, which is not on the allow-list of model libraries", message)
        self.assertIn("pass --allow-module fraud_scorer (or --allow-global fraud_scorer.ThresholdScorer)", message)
        for policy in (rm.GlobalPolicy(extra_modules=["fraud_scorer"]), rm.GlobalPolicy(extra_globals=["fraud_scorer.ThresholdScorer"])):
            model, modules = rm.load_pickle(data, "m.pkl", policy)
            self.assertEqual(model.threshold, 50)
            self.assertEqual(modules, {"fraud_scorer"})

    def test_allow_global_may_name_a_denied_function_of_an_allowed_library(self):
        rm.scan_pickle(b"\x80\x02cnumpy\nload\n.", "m.pkl", rm.GlobalPolicy(extra_globals=["numpy.load"]))
        # --allow-module does not: the deny-lists apply to the user's packages too.
        message = refused(rm.scan_pickle, b"\x80\x02cfraud_scorer.io\nload_weights\n.", "m.pkl", rm.GlobalPolicy(extra_modules=["fraud_scorer"]))
        self.assertIn("imports fraud_scorer.io.load_weights, a part of fraud_scorer that reads or writes files or runs code", message)
        self.assertIn("pass --allow-global fraud_scorer.io.load_weights", message)

    def test_what_runs_code_can_never_be_allowed(self):
        for flags in (["--allow-global", "os.system"], ["--allow-global", "builtins.getattr"], ["--allow-module", "subprocess"], ["--allow-module", "os.path"], ["--allow-global", "system"],
                      ["--allow-module", "pyspark"], ["--allow-module", "databricks.sdk"]):
            message = refused(rm.parse_args, ["--pickle", "m.pkl", "--model", "fraud", *flags])
            self.assertIn("can never be allowed", message)

    def test_flags_are_repeatable_comma_separated_and_may_be_empty_as_the_job_passes_them(self):
        args = rm.parse_args(["--pickle=m.pkl", "--model=fraud", "--allow-module=", "--allow-module=fraud_scorer,features", "--allow-global=a.B", "--allow-global", "c.D"])
        self.assertEqual(args.policy.extra_modules, ("fraud_scorer", "features"))
        self.assertEqual(args.policy.extra_globals, {"a.B", "c.D"})

    def test_the_class_recorded_at_load_time_is_checked_too(self):
        # A name the scan allows that resolves to a function of a module that is never allowed.
        policy = rm.GlobalPolicy(extra_modules=["fraud_scorer"])
        with mock.patch.object(scorer(), "helper", os.system, create=True):
            message = refused(rm.load_pickle, b"\x80\x02cfraud_scorer\nhelper\n(Vtrue\ntR.", "m.pkl", policy)
        self.assertIn("fraud_scorer.helper is posix.system, which can run commands or code", message)


class LoadPickle(unittest.TestCase):
    def test_a_sklearn_pipeline_gets_the_sklearn_flavour(self):
        with open(demo_model()["model"], "rb") as handle:
            model, modules = rm.load_pickle(handle.read(), "m.pkl")
        self.assertEqual(rm.choose_flavour(model), "sklearn")
        self.assertTrue({"sklearn.pipeline", "numpy"} <= modules, modules)

    def test_another_object_with_predict_gets_the_pyfunc_flavour(self):
        model, _ = rm.load_pickle(pickled(scorer().ThresholdScorer()), "m.pkl", rm.GlobalPolicy(extra_modules=["fraud_scorer"]))
        self.assertEqual(rm.choose_flavour(model), "pyfunc")

    def test_refuses_objects_without_predict(self):
        allow = rm.GlobalPolicy(extra_modules=["fraud_scorer"])
        self.assertEqual(refused(rm.load_pickle, pickled([1, 2, 3]), "m.pkl"), "m.pkl holds a list, not a model: a model must have a predict method")
        self.assertEqual(refused(rm.load_pickle, pickled(scorer().NoPredict()), "m.pkl", allow), "m.pkl holds a fraud_scorer.NoPredict, not a model: a model must have a predict method")
        self.assertEqual(
            refused(rm.load_pickle, pickled({"model": scorer().ThresholdScorer(), "columns": ["a"]}), "m.pkl", allow),
            "m.pkl holds a dict, not a model: a model must have a predict method: its key 'model' holds one; pickle that object on its own",
        )
        self.assertIn("holds the class fraud_scorer.ThresholdScorer, not a fitted model", refused(rm.load_pickle, pickled(scorer().ThresholdScorer), "m.pkl", allow))

    def test_an_allowed_library_that_is_not_installed_is_named(self):
        # GLOBAL xgboost.sklearn.XGBClassifier, then NEWOBJ: what an XGBoost model's pickle starts with.
        message = refused(rm.load_pickle, b"cxgboost.sklearn\nXGBClassifier\n)\x81.", "m.pkl")
        self.assertTrue(message.startswith("m.pkl needs the Python module 'xgboost', which is not installed here"), message)

    def test_a_class_from_the_training_notebook_is_explained(self):
        message = refused(rm.load_pickle, b"c__main__\nTrainedModel\n)\x81.", "m.pkl")
        self.assertIn("defined in the script or notebook that trained it (__main__)", message)
        self.assertIn("--allow-module", message)


class PinnedRequirements(unittest.TestCase):
    def test_pins_the_installed_distributions(self):
        self.assertEqual(rm.pinned_requirements({"sklearn.pipeline", "numpy", "copyreg", "builtins"}), sorted([f"numpy=={version_of('numpy')}", f"scikit-learn=={version_of('scikit-learn')}"]))
        self.assertEqual(rm.pinned_requirements({"fraud_scorer"}), ["fraud-scorer==0.3.0"])

    def test_a_module_no_package_provides_is_refused(self):
        message = refused(rm.pinned_requirements, {"my_features.transformers", "sklearn.base"})
        self.assertTrue(message.startswith("the model uses my_features, which no installed package provides"), message)


class ReadSample(unittest.TestCase):
    def test_csv_columns_are_typed_per_column_and_limited_to_five_rows(self):
        text = "age,name,amount\n" + "\n".join(f"{30 + i},n{i},{i}.5" for i in range(8)) + "\n"
        columns, records = rm.read_sample(text.encode(), "data/fraud/sample.csv")
        self.assertEqual(columns, ["age", "name", "amount"])
        self.assertEqual(len(records), 5)
        self.assertEqual(records[0], {"age": 30, "name": "n0", "amount": 0.5})
        self.assertEqual(rm.read_sample(b"a,b\n1,\n2.5,x\n", "s.csv")[1], [{"a": 1.0, "b": None}, {"a": 2.5, "b": "x"}])

    def test_bad_csv_files_are_refused_with_the_line(self):
        for data, expected in [
            (b"", "sample s.csv is empty: it needs a header row and at least one row"),
            (b"a,b\n", "sample s.csv has a header but no rows"),
            (b"a,b\n1,2\n3\n", "sample s.csv line 3 has 1 values, the header has 2 columns"),
        ]:
            self.assertEqual(refused(rm.read_sample, data, "s.csv"), expected)

    def test_json_records_and_the_scoring_request_the_smoke_test_sends(self):
        self.assertEqual(rm.read_sample(b'[{"a": 1, "b": 2.5}]', "s.json"), (["a", "b"], [{"a": 1, "b": 2.5}]))
        with open(SERVING_SAMPLE, "rb") as handle:
            columns, records = rm.read_sample(handle.read(), "serving/sample-input.json")
        self.assertEqual(len(columns), 14)
        self.assertEqual(records[0]["transaction_amount"], 120.5)

    def test_parquet_with_pandas_and_pyarrow(self):
        import pandas

        buffer = io.BytesIO()
        pandas.DataFrame({"age": [35.0, 41.0] * 4, "city": ["x", "y"] * 4}).to_parquet(buffer)
        columns, records = rm.read_sample(buffer.getvalue(), "s.parquet")
        self.assertEqual(columns, ["age", "city"])
        self.assertEqual((len(records), records[0]), (5, {"age": 35.0, "city": "x"}))
        self.assertTrue(refused(rm.read_sample, b"PAR1 not really", "s.parquet").startswith("sample s.parquet could not be read as Parquet ("))

    def test_parquet_without_pyarrow_says_what_to_install(self):
        # A Python where pyarrow cannot be imported: sys.modules["pyarrow"] = None makes
        # `import pyarrow` raise ImportError, as if it were not installed.
        folder = tempfile.mkdtemp(prefix="no-pyarrow-")
        with open(os.path.join(folder, "sitecustomize.py"), "w", encoding="utf-8") as handle:
            handle.write("import sys\nsys.modules['pyarrow'] = None\n")
        sample = os.path.join(folder, "sample.parquet")
        with open(sample, "wb") as handle:
            handle.write(b"PAR1\x00\x00PAR1")
        result, line = run_script(["--pickle", demo_model()["model"], "--model", "fraud", "--sample", sample], env=clean_env(PYTHONPATH=folder, MLFLOW_TRACKING_URI="http://127.0.0.1:9"))
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(line["error"], (
            f"sample {sample} is a Parquet file, which needs pyarrow, not installed in this Python ({PYTHON}): "
            "install pyarrow (pip install pyarrow; the Databricks job's environment lists them), or give a CSV or JSON sample"
        ))
        self.assertNotIn("Traceback", result.stderr)

    def test_other_json_and_formats_are_refused(self):
        for data, path, expected in [
            (b"{not json", "s.json", "sample s.json is not valid JSON"),
            (b'{"a": 1}', "s.json", "sample s.json must be a list of records"),
            (b"a\tb", "s.tsv", "sample s.tsv: use a .csv (with a header row), .json or .parquet file"),
        ]:
            self.assertTrue(refused(rm.read_sample, data, path).startswith(expected))


class NamesAndArguments(unittest.TestCase):
    def test_unity_catalog_names_land_in_the_jobs_schema(self):
        self.assertEqual(rm.full_model_name("databricks-uc", "fraud", "main.dev"), "main.dev.fraud")
        self.assertEqual(rm.full_model_name("databricks-uc", "main.dev.fraud", "main.dev"), "main.dev.fraud")
        self.assertEqual(rm.full_model_name("databricks-uc", "main.risk.fraud", ""), "main.risk.fraud")
        self.assertEqual(rm.full_model_name("mlflow", "fraud", "main.dev"), "fraud")

    def test_other_schemas_and_bad_names_are_refused(self):
        for model, schema, expected in [
            ("main.prd.fraud", "main.dev", "model main.prd.fraud is outside main.dev, the schema this job registers into"),
            ("prd.fraud", "main.dev", "model 'prd.fraud' is not a Unity Catalog model name"),
            ("fraud", "", "model 'fraud': Unity Catalog names are catalog.schema.model"),
            ("main.dev.fr aud", "main.dev", "model 'main.dev.fr aud' is not a Unity Catalog model name"),
        ]:
            self.assertTrue(refused(rm.full_model_name, "databricks-uc", model, schema).startswith(expected))

    def test_reserved_aliases_are_refused(self):
        self.assertEqual(rm.check_alias("challenger"), "challenger")
        self.assertIsNone(rm.check_alias(""))
        for alias in ("latest", "LATEST", "v1", "V12"):
            self.assertIn("is reserved by MLflow", refused(rm.check_alias, alias))
        refused(rm.check_alias, "chal lenger")

    def test_unity_catalog_without_a_sample_is_refused_up_front(self):
        # As the job passes its parameters when no sample was given.
        message = refused(rm.parse_args, ["--pickle=abfss://models@acct.dfs.core.windows.net/fraud/model.pkl", "--model=fraud", "--sample=", "--alias=",
                                          "--registry", "databricks-uc", "--experiment", "/Shared/mlflow-platform/registrations", "--schema", "main.dev"])
        self.assertEqual(message, (
            "model main.dev.fraud: Unity Catalog requires a signature on every model version, and the signature comes from the sample: "
            "give --sample (a CSV, JSON or Parquet file of a few input rows)"
        ))

    def test_usage_errors_end_with_a_json_line_and_help_works(self):
        result, line = run_script(["--pickle", "m.pkl", "--registry", "s3"])
        self.assertEqual(result.returncode, 1)
        self.assertIn("argument --registry: invalid choice: 's3'", line["error"])
        self.assertIn("see register_model.py --help", line["error"])
        result = subprocess.run([PYTHON, SCRIPT, "--help"], capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0)
        self.assertIn("--allow-module PACKAGE", result.stdout)
        self.assertIn("checked before it is unpickled", result.stdout)


class WaitUntilReady(unittest.TestCase):
    """A minimal client double: a real server makes versions READY at once, never FAILED or late."""

    class Client:
        def __init__(self, statuses, message=""):
            self.statuses, self.message, self.asked = list(statuses), message, 0

        def get_model_version(self, name, version):
            self.asked += 1
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return type("MV", (), {"status": status, "status_message": self.message})()

    def test_polls_until_ready(self):
        client = self.Client(["PENDING_REGISTRATION", "PENDING_REGISTRATION", "READY"])
        rm.wait_until_ready(client, "fraud", "4", 60, sleep=lambda s: None)
        self.assertEqual(client.asked, 3)

    def test_failed_registration_reports_the_status_message(self):
        client = self.Client(["FAILED_REGISTRATION"], "Failed to copy model artifacts: 403")
        message = refused(rm.wait_until_ready, client, "fraud", "4", 60, lambda s: None)
        self.assertEqual(message, "version 4 of fraud failed to register (FAILED_REGISTRATION): Failed to copy model artifacts: 403")

    def test_a_version_that_stays_pending_times_out(self):
        clock = [0.0]
        client = self.Client(["PENDING_REGISTRATION"])
        message = refused(rm.wait_until_ready, client, "fraud", "4", 10, lambda s: clock.__setitem__(0, clock[0] + s), lambda: clock[0])
        self.assertIn("is still PENDING_REGISTRATION after 10 s", message)
        self.assertEqual(client.asked, 6)


class ReadBytes(unittest.TestCase):
    def test_local_files_and_missing_ones(self):
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(b"abc")
        self.assertEqual(rm.read_bytes(handle.name, "pickle"), b"abc")
        self.assertEqual(refused(rm.read_bytes, "/nonexistent/model.pkl", "pickle"), "pickle /nonexistent/model.pkl does not exist")

    def test_abfss_goes_through_spark_and_other_schemes_are_refused(self):
        seen = []
        uri = "abfss://models@mlplatdevmodels.dfs.core.windows.net/fraud/model.pkl"
        self.assertEqual(rm.read_bytes(uri, "pickle", lambda u, w: seen.append(u) or b"x"), b"x")
        self.assertEqual(seen, [uri])
        self.assertIn("only local paths and abfss:// URIs", refused(rm.read_bytes, "https://example.org/model.pkl", "pickle"))


class Scrubbing(unittest.TestCase):
    def test_credentials_in_urls_and_secret_values_are_removed(self):
        self.assertEqual(rm.without_credentials("https://admin:s3cret@mlflow.example.org/path?token=abc"), "https://mlflow.example.org/path")
        with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_PASSWORD": "hunter22", "DATABRICKS_TOKEN": "dapi123456"}):
            self.assertEqual(rm.scrub("GET http://u:p@h/x failed for hunter22 and dapi123456"), "GET http://h/x failed for *** and ***")


class RegistryErrors(unittest.TestCase):
    """MLflow's own exceptions, as its REST client raises them, worded for the user."""

    def test_permission_and_other_answers_name_the_registry_and_keep_only_the_first_line(self):
        import mlflow
        from mlflow.exceptions import RestException  # what the REST client raises for a JSON error answer

        with mock.patch.dict(os.environ, {"DATABRICKS_HOST": "https://adb-1.2.azuredatabricks.net", "DATABRICKS_TOKEN": "dapi-secret-1"}):
            denied = RestException({"error_code": "PERMISSION_DENIED", "message": "User does not have MANAGE on main.dev.fraud (token dapi-secret-1)\nmore"})
            self.assertEqual(str(rm.registry_error(denied, "databricks-uc", mlflow)), (
                "the registry at https://adb-1.2.azuredatabricks.net refused the request (PERMISSION_DENIED): User does not have MANAGE on main.dev.fraud (token ***): "
                "the identity that runs this needs the right to create runs, models and versions there"
            ))
            missing = RestException({"error_code": "SCHEMA_DOES_NOT_EXIST", "message": "Schema 'main.dev' does not exist."})
            self.assertEqual(str(rm.registry_error(missing, "databricks-uc", mlflow)),
                             "the registry at https://adb-1.2.azuredatabricks.net answered RestException SCHEMA_DOES_NOT_EXIST: Schema 'main.dev' does not exist.")


# ---------------------------------------------------------------------------------------------
# Against a real MLflow tracking server.


def server(kind="plain"):
    from tests.helpers.mlflow_server import shared_server

    return shared_server(kind)


class FlushedOutput(io.StringIO):
    """Standard output that notes whether the script flushed it (the job's log is read as it is written)."""

    flushed_text = None

    def flush(self):
        self.flushed_text = self.getvalue()


def run_main(argv, **env):
    """The script's main() in this process (MLflow imported once for the suite): (status, last line);
    the line must have been flushed."""
    out, err = FlushedOutput(), io.StringIO()
    with mock.patch.dict(os.environ, env), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = rm.main(argv, out=out)
    lines = out.getvalue().strip().splitlines()
    if lines:
        assert out.flushed_text == out.getvalue(), "the last line was not flushed"
    return status, json.loads(lines[-1]) if lines else {}, err.getvalue()


def client(url, **env):
    import mlflow

    with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": url, **env}):
        return mlflow.tracking.MlflowClient(tracking_uri=url, registry_uri=url)


class JobInvocation(unittest.TestCase):
    """The script run as a file with the job's own tokens (components/registration/registrationJob.ts): one
    `--name=value` each for pickle, model, sample and alias, then the fixed flags."""

    def test_a_sklearn_pipeline_with_a_csv_sample_and_an_alias(self):
        url, demo, name = server().url, demo_model(), unique_name("job-sklearn")
        tokens = [f"--pickle={demo['model']}", f"--model={name}", f"--sample={demo['sample']}", "--alias=challenger",
                  "--registry", "mlflow", "--experiment", "/Shared/mlflow-platform/registrations"]
        result, line = run_script(tokens, env=clean_env(MLFLOW_TRACKING_URI=url))
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertEqual(line, {"name": name, "version": "1", "model_uri": f"models:/{name}/1", "flavour": "sklearn", "alias": "challenger"})
        self.assertEqual(result.stdout.strip().splitlines()[-1], json.dumps(line), "the JSON object is the last line")
        self.assertNotIn("Traceback", result.stderr)

        import mlflow

        registry = client(url)
        version = registry.get_model_version(name, "1")
        self.assertEqual(version.status, "READY")
        self.assertEqual(registry.get_model_version_by_alias(name, "challenger").version, "1")
        with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": url}):
            info = mlflow.models.get_model_info(f"models:/{name}/1")
            self.assertEqual(info.signature.inputs.input_names(), demo["expected"]["columns"])
            self.assertIsNotNone(info.signature.outputs)
            self.assertEqual(registry.get_experiment(registry.get_run(version.run_id).info.experiment_id).name, "/Shared/mlflow-platform/registrations")
            requirements = mlflow.pyfunc.get_model_dependencies(f"models:/{name}/1")
            with open(requirements, encoding="utf-8") as handle:
                pins = handle.read().split()
            self.assertIn(f"scikit-learn=={version_of('scikit-learn')}", pins)
            self.assertIn(f"mlflow=={mlflow.__version__}", pins)
            # The file is skops (loading it runs no code), and the library that reads it is pinned:
            # the serving image installs only these requirements.
            self.assertIn(f"skops=={version_of('skops')}", pins)
            flavour = info.flavors["sklearn"]
            self.assertEqual((flavour["serialization_format"], flavour["pickled_model"]), ("skops", "model.skops"))
            loaded = mlflow.sklearn.load_model(f"models:/{name}@challenger")
        import pandas

        sample = pandas.read_csv(demo["sample"])
        self.assertEqual([int(v) for v in loaded.predict(sample)], demo["expected"]["sample_csv_predictions"])


class InProcessRuns(unittest.TestCase):
    """main() in this process against the real server."""

    def test_a_users_own_model_class_as_pyfunc_with_the_serving_json_sample(self):
        url, name, experiment = server().url, unique_name("pyfunc"), unique_name("experiment")
        folder, workdir = tempfile.mkdtemp(), tempfile.mkdtemp()
        path = write_pickle(folder, scorer().ThresholdScorer(threshold=100.0))
        started_in = os.getcwd()
        os.chdir(workdir)  # the pickle's copy goes into a temporary folder, never the working directory
        try:
            status, line, err = run_main(["--pickle", path, "--model", name, "--sample", SERVING_SAMPLE, "--allow-module=fraud_scorer", "--experiment", experiment],
                                         MLFLOW_TRACKING_URI=url)
        finally:
            os.chdir(started_in)
        self.assertEqual(status, 0, err)
        self.assertEqual(os.listdir(workdir), [])
        self.assertEqual(line, {"name": name, "version": "1", "model_uri": f"models:/{name}/1", "flavour": "pyfunc"})
        import mlflow
        import pandas

        registry = client(url)
        run = registry.get_run(registry.get_model_version(name, "1").run_id)
        self.assertEqual(run.data.tags["mlflow.runName"], f"register {name}")
        self.assertEqual(registry.get_experiment(run.info.experiment_id).name, experiment)
        with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": url}):
            info = mlflow.models.get_model_info(f"models:/{name}/1")
            self.assertEqual(info.signature.inputs.input_names()[-1], "transaction_amount")
            self.assertIsNotNone(info.saved_input_example_info)
            # The wrapper loads the pickle from the model's artifacts, under the name it was logged with.
            local = mlflow.artifacts.download_artifacts(f"models:/{name}/1")
            self.assertTrue(os.path.isfile(os.path.join(local, "artifacts", "model.pkl")), os.listdir(local))
            with open(mlflow.pyfunc.get_model_dependencies(f"models:/{name}/1"), encoding="utf-8") as handle:
                self.assertIn("fraud-scorer==0.3.0", handle.read().split())
            loaded = mlflow.pyfunc.load_model(f"models:/{name}/1")
        with open(SERVING_SAMPLE, encoding="utf-8") as handle:
            request = json.load(handle)["dataframe_split"]
        frame = pandas.DataFrame(request["data"], columns=request["columns"])
        self.assertEqual(list(loaded.predict(frame)), [1])

    def test_a_parquet_sample_gives_the_signature(self):
        import pandas

        url, demo, name = server().url, demo_model(), unique_name("parquet")
        sample = os.path.join(tempfile.mkdtemp(), "sample.parquet")
        pandas.read_csv(demo["sample"]).to_parquet(sample)
        status, line, err = run_main(["--pickle", demo["model"], "--model", name, "--sample", sample], MLFLOW_TRACKING_URI=url)
        self.assertEqual(status, 0, err)
        import mlflow

        with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": url}):
            info = mlflow.models.get_model_info(line["model_uri"])
        self.assertEqual(info.signature.inputs.input_names(), demo["expected"]["columns"])
        self.assertIsNotNone(info.saved_input_example_info)
        self.assertEqual((line["flavour"], "sklearn" in info.flavors, info.name), ("sklearn", True, "model"))
        with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": url}):
            loaded = mlflow.sklearn.load_model(line["model_uri"])
        self.assertEqual([int(v) for v in loaded.predict(pandas.read_csv(demo["sample"]))], demo["expected"]["sample_csv_predictions"])

    def test_the_jobs_empty_sample_and_alias_mean_none(self):
        url, demo, name = server().url, demo_model(), unique_name("empty")
        status, line, err = run_main([f"--pickle={demo['model']}", f"--model={name}", "--sample=", "--alias="], MLFLOW_TRACKING_URI=url)
        self.assertEqual(status, 0, err)
        self.assertEqual(line, {"name": name, "version": "1", "model_uri": f"models:/{name}/1", "flavour": "sklearn"})
        import mlflow

        self.assertEqual(list(client(url).get_model_version(name, "1").aliases), [])
        with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": url}):
            self.assertIsNone(mlflow.models.get_model_info(line["model_uri"]).signature)

    def test_a_second_registration_is_the_next_version(self):
        url, demo, name = server().url, demo_model(), unique_name("twice")
        for expected in ("1", "2"):
            status, line, err = run_main(["--pickle", demo["model"], "--model", name, "--sample", demo["sample"], "--alias", "challenger"], MLFLOW_TRACKING_URI=url)
            self.assertEqual((status, line), (0, {"name": name, "version": expected, "model_uri": f"models:/{name}/{expected}", "flavour": "sklearn", "alias": "challenger"}), err)
        self.assertEqual(client(url).get_model_version_by_alias(name, "challenger").version, "2")

    def test_the_script_does_its_own_bounded_wait_with_an_explicit_signature(self):
        # MLflow's own wait (await_registration_for, 300 s by default) would ignore --timeout; and
        # the signature is the script's, not left to MLflow's inference (which only warns when it fails).
        import mlflow

        url, demo, name = server().url, demo_model(), unique_name("waits")
        with mock.patch.dict(os.environ):
            os.environ.pop("MLFLOW_REGISTRY_URI", None)
            args = rm.parse_args(["--pickle", demo["model"], "--model", name, "--sample", demo["sample"], "--timeout", "42"])
        sleep = mock.Mock()
        with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": url}), \
                mock.patch.object(mlflow, "register_model", wraps=mlflow.register_model) as register_model, \
                mock.patch.object(rm, "wait_until_ready", wraps=rm.wait_until_ready) as wait, \
                mock.patch.object(rm, "_log_sklearn", wraps=rm._log_sklearn) as log_sklearn:
            result = rm.register(args, out=io.StringIO(), sleep=sleep)
        self.assertEqual(result["version"], "1")
        self.assertEqual(register_model.call_args.kwargs, {"await_registration_for": 0})
        self.assertEqual((wait.call_args.args[1:], wait.call_args.kwargs), ((name, "1", 42.0), {"sleep": sleep}))
        signature = log_sklearn.call_args.args[2]["signature"]
        self.assertEqual(signature.inputs.input_names(), demo["expected"]["columns"])

    def test_wrong_credentials_on_the_auth_server(self):
        auth, demo = server("auth"), demo_model()
        status, line, err = run_main(["--pickle", demo["model"], "--model", unique_name("auth"), "--sample", demo["sample"]],
                                     MLFLOW_TRACKING_URI=auth.url, MLFLOW_TRACKING_USERNAME=auth.username, MLFLOW_TRACKING_PASSWORD="wrong-password-xyz")
        self.assertEqual(status, 1)
        self.assertEqual(line["error"], (
            f"the registry at {auth.url} refused the credentials (401 Unauthorized): check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
        ))
        self.assertNotIn("wrong-password-xyz", json.dumps(line) + err)
        self.assertNotIn("Traceback", err)

    def test_a_registry_that_is_down_fails_in_seconds_naming_it(self):
        import socket

        with socket.socket() as sock:  # a loopback port nobody listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        demo = demo_model()
        with mock.patch.dict(os.environ):
            for key in rm.HTTP_DEFAULTS:
                os.environ.pop(key, None)
            started = time.monotonic()
            status, line, err = run_main([f"--pickle={demo['model']}", "--model=fraud", f"--sample={demo['sample']}", "--alias="],
                                         MLFLOW_TRACKING_URI=f"http://admin:pw-not-shown@127.0.0.1:{port}")
            seconds = time.monotonic() - started
        self.assertEqual(status, 1)
        self.assertEqual(line["error"], (
            f"the registry at http://127.0.0.1:{port} did not answer (2 retries): check that it is running and reachable from here, and that MLFLOW_TRACKING_URI is right"
        ))
        self.assertNotIn("pw-not-shown", json.dumps(line) + err)
        self.assertNotIn("Traceback", err)
        # MLflow's own defaults (7 retries, backoff factor 2) take over a minute on the first call;
        # the bound leaves about 3 s of retries (MLflow is already imported here).
        self.assertLess(seconds, 15)

    def test_a_value_the_user_set_is_kept(self):
        with mock.patch.dict(os.environ, {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5"}):
            rm._import_mlflow()
            self.assertEqual(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"], "5")
            self.assertEqual(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"], "30")


if __name__ == "__main__":
    unittest.main()
