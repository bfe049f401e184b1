"""The registration script's decisions, one function at a time, in this process: its arguments and
--help, the Spark reader (pyspark exists only on Databricks, so its three calls are stood in for),
registry errors as MLflow raises them, the scikit-learn logging choice, and register()'s hand-off
for the Databricks registries. What MLflow itself does with a version is tested against a real
tracking server in test_register_model.py; here MLflow runs on a local sqlite store where a
server adds nothing."""
import contextlib
import importlib.metadata
import io
import json
import os
import sys
import tempfile
import types
import unittest
from unittest import mock

from jobs import register_model as rm
from jobs.tests.helpers import demo_model

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def refused(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except rm.RegistrationError as err:
        return str(err)
    raise AssertionError(f"{fn.__name__} did not refuse")


def without_registry_env():
    """os.environ without MLFLOW_REGISTRY_URI, restored afterwards."""
    patch = mock.patch.dict(os.environ)
    patch.start()
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    return patch


class Arguments(unittest.TestCase):
    def setUp(self):
        self.addCleanup(without_registry_env().stop)

    def test_help_is_the_usage_with_every_flag_and_the_pickle_rule(self):
        # Golden text at 100 columns (argparse wraps to $COLUMNS), for the suite's Python 3.11.
        with open(os.path.join(FIXTURES, "register_model_help.txt"), encoding="utf-8") as handle:
            golden = handle.read()
        for flag in ("--help", "-h"):
            out = io.StringIO()
            with mock.patch.dict(os.environ, {"COLUMNS": "100"}), contextlib.redirect_stdout(out), self.assertRaises(SystemExit) as ended:
                rm.parse_args([flag])
            self.assertEqual(ended.exception.code, 0)
            self.assertEqual(out.getvalue(), golden)

    def test_defaults(self):
        args = rm.parse_args(["--pickle", "model.pkl", "--model", "fraud"])
        self.assertEqual(
            (args.pickle, args.model, args.sample, args.alias, args.registry, args.schema, args.experiment, args.timeout, args.name),
            ("model.pkl", "fraud", "", None, "mlflow", "", "", 600.0, "fraud"),
        )
        self.assertEqual((args.allow_global, args.allow_module), (None, None))
        self.assertEqual((args.policy.extra_globals, args.policy.extra_modules), (frozenset(), ()))

    def test_every_flag_is_read(self):
        args = rm.parse_args(["--pickle", "p.pkl", "--model", "fraud", "--sample", "s.csv", "--alias", "challenger", "--registry", "databricks-uc",
                              "--schema", "main.dev", "--experiment", "/Shared/x", "--timeout", "0.5", "--allow-global", "fraud_features.Scaler,a.B",
                              "--allow-module", "fraud_features", "--allow-module="])
        self.assertEqual((args.sample, args.alias, args.registry, args.schema, args.experiment, args.timeout, args.name),
                         ("s.csv", "challenger", "databricks-uc", "main.dev", "/Shared/x", 0.5, "main.dev.fraud"))
        self.assertEqual((args.policy.extra_globals, args.policy.extra_modules), (frozenset({"fraud_features.Scaler", "a.B"}), ("fraud_features",)))

    def test_usage_errors_name_the_flag_and_point_to_help(self):
        for argv, expected in [
            ([], "the following arguments are required: --pickle, --model"),
            (["--model", "fraud"], "the following arguments are required: --pickle"),
            (["--pickle", "p.pkl"], "the following arguments are required: --model"),
            (["--pickle", "p", "--model", "m", "--registry", "s3"], "argument --registry: invalid choice: 's3' (choose from 'databricks-uc', 'databricks', 'mlflow')"),
            (["--pickle", "p", "--model", "m", "--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
            (["--pickle", "p", "--model", "m", "--bogus"], "unrecognized arguments: --bogus"),
        ]:
            self.assertEqual(refused(rm.parse_args, argv), f"{expected} (see register_model.py --help)")

    def test_the_timeout_must_be_above_zero(self):
        for value in ("0", "-5", "-0.25"):
            self.assertEqual(refused(rm.parse_args, ["--pickle", "p", "--model", "m", "--timeout", value]),
                             f"--timeout {float(value):g}: give a number of seconds above 0")
        self.assertEqual(rm.parse_args(["--pickle", "p", "--model", "m", "--timeout", "1"]).timeout, 1.0)

    def test_the_registry_defaults_to_mlflow_registry_uri_when_it_names_one(self):
        for env, expected in [("databricks", "databricks"), ("mlflow", "mlflow"), ("http://127.0.0.1:5000", "mlflow"), ("", "mlflow")]:
            with mock.patch.dict(os.environ, {"MLFLOW_REGISTRY_URI": env}):
                self.assertEqual(rm.parse_args(["--pickle", "p", "--model", "m"]).registry, expected, env)
        with mock.patch.dict(os.environ, {"MLFLOW_REGISTRY_URI": "databricks"}):
            self.assertEqual(rm.parse_args(["--pickle", "p", "--model", "m", "--registry", "mlflow"]).registry, "mlflow")

    def test_an_empty_model_name_or_a_bad_alias_is_refused_after_parsing(self):
        self.assertEqual(refused(rm.parse_args, ["--pickle", "p", "--model", " "]), "model name is empty")
        self.assertIn("is reserved by MLflow", refused(rm.parse_args, ["--pickle", "p", "--model", "m", "--alias", "latest"]))


class ParserError(unittest.TestCase):
    def test_a_usage_error_is_a_registration_error_not_an_exit(self):
        parser = rm._Parser(prog="register_model.py")
        self.assertEqual(refused(parser.error, "boom"), "boom (see register_model.py --help)")


def fake_pyspark(spark):
    """sys.modules entries for `from pyspark.sql import SparkSession` giving `spark`."""
    sql = types.ModuleType("pyspark.sql")
    sql.SparkSession = types.SimpleNamespace(builder=types.SimpleNamespace(getOrCreate=lambda: spark))
    package = types.ModuleType("pyspark")
    package.sql = sql
    return {"pyspark": package, "pyspark.sql": sql}


class FakeSpark:
    """spark.read.format(f).load(uri).select(col).collect(), recording each call."""

    def __init__(self, rows=(), error=None):
        self.rows, self.error, self.calls = list(rows), error, []

    @property
    def read(self):
        return self

    def format(self, name):
        self.calls.append(("format", name))
        return self

    def load(self, uri):
        self.calls.append(("load", uri))
        return self

    def select(self, *columns):
        self.calls.append(("select", columns))
        return self

    def collect(self):
        if self.error:
            raise self.error
        return self.rows


class SparkReader(unittest.TestCase):
    URI = "abfss://models@mlplatdevmodels.dfs.core.windows.net/fraud/model.pkl"

    def read(self, spark):
        with mock.patch.dict(sys.modules, fake_pyspark(spark)):
            return rm.read_bytes(self.URI, "pickle")

    def refusal(self, spark):
        with mock.patch.dict(sys.modules, fake_pyspark(spark)):
            return refused(rm.read_bytes, self.URI, "pickle")

    def test_reads_the_content_column_of_the_binary_file_source(self):
        spark = FakeSpark(rows=[(bytearray(b"\x80\x04data"),)])
        data = self.read(spark)
        self.assertEqual((data, type(data)), (b"\x80\x04data", bytes))
        self.assertEqual(spark.calls, [("format", "binaryFile"), ("load", self.URI), ("select", ("content",))])

    def test_no_row_means_no_such_file(self):
        self.assertEqual(self.refusal(FakeSpark(rows=[])),
                         f"pickle {self.URI} does not exist in the container: check the path, or upload it (npm run register -- --upload)")

    def test_spark_errors_are_worded_by_kind(self):
        missing = f"pickle {self.URI} does not exist in the container: check the path, or upload it (npm run register -- --upload)"
        denied = f"pickle {self.URI} cannot be read by the job's identity: it needs READ FILES on the external location of that container"
        for text, expected in [
            (f"[PATH_NOT_FOUND] Path does not exist: {self.URI}. SQLSTATE: 42K03", missing),
            (f"Path does not exist: {self.URI}", missing),  # Spark before 3.4
            ("PERMISSION_DENIED: request not authorized", denied),
            ("Operation failed: \"This request is not authorized to perform this operation using this permission.\", 403, GET, AuthorizationPermissionMismatch", denied),
            ("[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have permission SELECT on any file.", denied),
            ("[UNSUPPORTED_DATASOURCE] something else\nat line 2", f"pickle {self.URI} could not be read: [UNSUPPORTED_DATASOURCE] something else"),
        ]:
            self.assertEqual(self.refusal(FakeSpark(error=RuntimeError(text))), expected, text)

    def test_an_error_without_text_is_named_by_its_type(self):
        class AnalysisException(Exception):
            pass

        self.assertEqual(self.refusal(FakeSpark(error=AnalysisException())), f"pickle {self.URI} could not be read: AnalysisException")

    def test_without_pyspark_it_asks_for_a_local_path(self):
        with mock.patch.dict(sys.modules, {"pyspark": None, "pyspark.sql": None}):
            self.assertEqual(refused(rm.read_bytes, self.URI, "sample"),
                             f"sample {self.URI}: abfss:// paths are read with Spark, which only a Databricks job has here; pass a local path")


class LocalFiles(unittest.TestCase):
    def test_a_folder_and_an_unreadable_file(self):
        folder = tempfile.mkdtemp()
        self.assertEqual(refused(rm.read_bytes, folder, "sample"), f"sample {folder} is a folder, not a file")
        with mock.patch("builtins.open", side_effect=PermissionError(13, "denied")):
            self.assertEqual(refused(rm.read_bytes, "/data/s.csv", "sample"), "sample /data/s.csv cannot be read (permission denied)")

    def test_other_schemes_are_named(self):
        self.assertEqual(refused(rm.read_bytes, "s3://bucket/model.pkl", "pickle"), "pickle s3://bucket/model.pkl: only local paths and abfss:// URIs can be read")
        # A Windows drive letter or a relative path with a colon is a local path.
        self.assertEqual(refused(rm.read_bytes, "C:/missing/model.pkl", "pickle"), "pickle C:/missing/model.pkl does not exist")


class Samples(unittest.TestCase):
    def test_a_csv_with_a_byte_order_mark(self):
        self.assertEqual(rm.read_sample("\ufeffa,b\n1,x\n".encode("utf-8"), "S.CSV"), (["a", "b"], [{"a": 1, "b": "x"}]))

    def test_the_row_limit(self):
        text = "a\n" + "\n".join(str(i) for i in range(9))
        self.assertEqual(len(rm.read_sample(text.encode(), "s.csv", rows=3)[1]), 3)
        records = [{"a": i} for i in range(9)]
        self.assertEqual(rm.read_sample(json.dumps(records).encode(), "s.json", rows=2)[1], records[:2])

    def test_json_scoring_request_shapes(self):
        for doc, expected in [
            ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}}, (["a", "b"], [{"a": 1, "b": 2}, {"a": 3, "b": 4}])),
            ({"dataframe_records": [{"a": 1}, {"b": 2}]}, (["a", "b"], [{"a": 1}, {"b": 2}])),
            ({"instances": [{"a": 5}]}, (["a"], [{"a": 5}])),
        ]:
            self.assertEqual(rm.read_sample(json.dumps(doc).encode(), "s.JSON"), expected, doc)

    def test_json_that_is_not_records(self):
        expected = "sample s.json must be a list of records ([{column: value}, ...]) or a scoring request (dataframe_split, dataframe_records)"
        for doc in ([], [1, 2], [{"a": 1}, 2], {"dataframe_split": {"columns": ["a"]}}, {"dataframe_records": []}, {"instances": "x"}, "text", "instances", {"other": [{"a": 1}]}):
            self.assertEqual(refused(rm.read_sample, json.dumps(doc).encode(), "s.json"), expected, doc)
        self.assertTrue(refused(rm.read_sample, b"\xff\xfe", "s.json").startswith("sample s.json is not valid JSON: "))
        self.assertEqual(refused(rm.read_sample, b"{", "s.json"), "sample s.json is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)")

    def test_parquet_rows_and_refusals(self):
        import pandas

        buffer = io.BytesIO()
        pandas.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).to_parquet(buffer)
        self.assertEqual(rm.read_sample(buffer.getvalue(), "s.PARQUET", rows=2), (["a", "b"], [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]))
        empty = io.BytesIO()
        pandas.DataFrame({"a": pandas.Series([], dtype="int64")}).to_parquet(empty)
        self.assertEqual(refused(rm.read_sample, empty.getvalue(), "s.parquet"), "sample s.parquet has no rows")
        self.assertEqual(refused(rm.read_sample, b"PAR1 not really", "s.parquet"), (  # pyarrow's text, of the version requirements.txt pins
            "sample s.parquet could not be read as Parquet (ArrowInvalid: Could not open Parquet input source '<Buffer>': Parquet magic bytes not found in footer. "
            "Either the file is corrupted or this is not a parquet file.): write it with DataFrame.to_parquet, or give a CSV or JSON sample"
        ))

    def test_parquet_without_both_libraries_names_both(self):
        with mock.patch.object(rm, "_importable", side_effect=lambda module: False):
            self.assertEqual(refused(rm.read_sample, b"PAR1", "s.parquet"), (
                f"sample s.parquet is a Parquet file, which needs pandas and pyarrow, not installed in this Python ({sys.executable}): "
                "install pandas and pyarrow (pip install pandas pyarrow; the Databricks job's environment lists them), or give a CSV or JSON sample"
            ))

    def test_importable(self):
        self.assertTrue(rm._importable("json"))
        with mock.patch.dict(sys.modules, {"pyarrow": None}):
            self.assertFalse(rm._importable("pyarrow"))
        self.assertFalse(rm._importable("no_such_module_here"))

    def test_csv_columns_keep_their_kind(self):
        self.assertEqual(rm._convert_column(["1", "", "3"]), [1, None, 3])
        self.assertEqual(rm._convert_column(["1", "2.5"]), [1.0, 2.5])
        self.assertEqual(rm._convert_column(["1", "x", ""]), ["1", "x", None])
        self.assertEqual(rm._convert_column(["", ""]), [None, None])


class WaitingForReady(unittest.TestCase):
    class Client:
        def __init__(self, versions):
            self.versions, self.asked = list(versions), []

        def get_model_version(self, name, version):
            self.asked.append((name, version))
            return self.versions.pop(0) if len(self.versions) > 1 else self.versions[0]

    def test_an_enum_status_and_a_missing_status(self):
        enum = types.SimpleNamespace(status="ModelVersionStatus.READY")
        client = self.Client([types.SimpleNamespace(status="ModelVersionStatus.PENDING_REGISTRATION"), enum])
        self.assertIs(rm.wait_until_ready(client, "main.dev.fraud", "3", 60, sleep=lambda s: None), enum)
        self.assertEqual(client.asked, [("main.dev.fraud", "3")] * 2)
        plain = types.SimpleNamespace()  # a client whose versions carry no status: the version is there
        self.assertIs(rm.wait_until_ready(self.Client([plain]), "fraud", "1", 60, sleep=lambda s: None), plain)

    def test_a_failure_without_a_message(self):
        for version in (types.SimpleNamespace(status="FAILED_REGISTRATION"), types.SimpleNamespace(status="FAILED_REGISTRATION", status_message="")):
            self.assertEqual(refused(rm.wait_until_ready, self.Client([version]), "fraud", "2", 60, lambda s: None),
                             "version 2 of fraud failed to register (FAILED_REGISTRATION): the registry gave no reason")

    def test_the_timeout_message_and_the_poll_interval(self):
        clock, slept = [100.0], []

        def sleep(seconds):
            slept.append(seconds)
            clock[0] += seconds

        pending = types.SimpleNamespace(status="PENDING_REGISTRATION")
        message = refused(rm.wait_until_ready, self.Client([pending]), "fraud", "2", 5, sleep, lambda: clock[0], 2.0)
        self.assertEqual(message, "version 2 of fraud is still PENDING_REGISTRATION after 5 s: look at it in the registry, or run again with a longer --timeout")
        self.assertEqual(slept, [2.0, 2.0, 2.0])


class Scrub(unittest.TestCase):
    def test_urls_lose_credentials_query_and_fragment_in_any_scheme_case(self):
        self.assertEqual(rm.without_credentials("HTTPS://user:pw@Host.example/x?token=1#frag"), "HTTPS://Host.example/x")
        self.assertEqual(rm.without_credentials("databricks"), "databricks")
        self.assertEqual(rm.without_credentials("https://h/a@b"), "https://h/a@b")
        self.assertEqual(rm.without_credentials("https://u:p@h/x#frag?x"), "https://h/x")

    def test_secret_values_of_four_characters_or_more(self):
        with mock.patch.dict(os.environ, {"DATABRICKS_CLIENT_SECRET": "abcd", "AZURE_CLIENT_SECRET": "xyz", "ARM_CLIENT_SECRET": "s3cr3t-value"}):
            self.assertEqual(rm.scrub("abcd xyz s3cr3t-value HTTP://me:pw@h/"), "*** xyz *** HTTP://h/")
        with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_TOKEN": "tok-123", "DATABRICKS_TOKEN": ""}):
            self.assertEqual(rm.scrub("token tok-123 twice tok-123"), "token *** twice ***")


class RegistryErrors(unittest.TestCase):
    """Exceptions as MLflow raises them (RestException, MlflowException, requests' errors)."""

    def setUp(self):
        import mlflow

        self.mlflow = mlflow
        patch = mock.patch.dict(os.environ, {"DATABRICKS_HOST": "https://adb-1.2.azuredatabricks.net?o=1", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"})
        patch.start()
        self.addCleanup(patch.stop)

    def error(self, err, registry="databricks-uc"):
        return str(rm.registry_error(err, registry, self.mlflow))

    def test_where_the_registry_is(self):
        self.assertEqual(rm.registry_location("databricks", self.mlflow), "https://adb-1.2.azuredatabricks.net")
        with mock.patch.dict(os.environ, {"DATABRICKS_HOST": ""}):
            self.assertEqual(rm.registry_location("databricks-uc", self.mlflow), "the Databricks workspace (DATABRICKS_HOST, or the workspace the job runs in)")
        with mock.patch.object(self.mlflow, "get_tracking_uri", return_value="http://u:p@127.0.0.1:5000/?x=1"):
            self.assertEqual(rm.registry_location("mlflow", self.mlflow), "http://127.0.0.1:5000/")

    def test_401_by_code_and_by_text(self):
        from mlflow.exceptions import MlflowException, RestException

        databricks = "the registry at https://adb-1.2.azuredatabricks.net refused the credentials (401 Unauthorized): check DATABRICKS_TOKEN (or the job's identity)"
        self.assertEqual(self.error(RestException({"error_code": "UNAUTHENTICATED", "message": "bad token"})), databricks)
        self.assertEqual(self.error(MlflowException("API request to endpoint /api/2.0/mlflow/runs/create failed with error code 401 != 200")), databricks)
        self.assertEqual(self.error(RuntimeError("401 Client Error: Unauthorized for url: https://h/x")), databricks)
        self.assertNotIn("refused the credentials", self.error(RuntimeError("error code 4011")))

    def test_403_by_code_and_by_text(self):
        from mlflow.exceptions import MlflowException

        self.assertEqual(self.error(MlflowException("API request failed with error code 403 != 200"), "mlflow").split(" refused the request ")[1],
                         "(PERMISSION_DENIED): API request failed with error code 403 != 200: the identity that runs this needs the right to create runs, models and versions there")
        self.assertIn("refused the request (PERMISSION_DENIED): 403 Client Error: Forbidden", self.error(RuntimeError("403 Client Error: Forbidden for url")))

    def test_unreachable_names_the_setting_per_registry(self):
        down = RuntimeError("HTTPSConnectionPool: Max retries exceeded with url: /api (Caused by NameResolutionError)")
        self.assertEqual(self.error(down, "databricks"), (
            "the registry at https://adb-1.2.azuredatabricks.net did not answer (2 retries): check that it is running and reachable from here, and that DATABRICKS_HOST is right"
        ))
        with mock.patch.dict(os.environ):
            os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
            self.assertIn("did not answer (? retries)", self.error(down))

    def test_other_answers_keep_the_code_once_and_the_first_line(self):
        from mlflow.exceptions import RestException

        self.assertEqual(self.error(RestException({"error_code": "RESOURCE_ALREADY_EXISTS", "message": "Model exists\nsecond line"})),
                         "the registry at https://adb-1.2.azuredatabricks.net answered RestException RESOURCE_ALREADY_EXISTS: Model exists")
        self.assertEqual(self.error(ValueError("")), "the registry at https://adb-1.2.azuredatabricks.net answered ValueError: ValueError")
        self.assertEqual(self.error(ValueError("bad: thing")), "the registry at https://adb-1.2.azuredatabricks.net answered ValueError: bad: thing")
        coded = ValueError("INTERNAL_ERROR: x")  # a text that starts with a code the exception does not carry keeps it
        self.assertEqual(self.error(coded), "the registry at https://adb-1.2.azuredatabricks.net answered ValueError: INTERNAL_ERROR: x")

    def test_mlflow_missing(self):
        with mock.patch.dict(sys.modules, {"mlflow": None}):
            self.assertEqual(refused(rm._import_mlflow), "MLflow is not installed here: pip install mlflow (the Databricks job installs it in its environment)")


class RequestedFirstLine(unittest.TestCase):
    def test_first_line(self):
        self.assertEqual(rm._first_line(ValueError("a\nb")), "a")
        self.assertEqual(rm._first_line(ValueError()), "")


class FakeSklearnFlavour:
    """mlflow.sklearn's log_model as a recorder: the choice of format is the script's, MLflow's own
    behaviour with each format is tested on a real server."""

    def __init__(self, skops="skops", cloudpickle="cloudpickle", failures=()):
        if skops is not None:
            self.SERIALIZATION_FORMAT_SKOPS = skops
        if cloudpickle is not None:
            self.SERIALIZATION_FORMAT_CLOUDPICKLE = cloudpickle
        self.failures, self.calls = list(failures), []

    def log_model(self, **kwargs):
        self.calls.append(kwargs)
        if self.failures:
            raise self.failures.pop(0)
        return f"logged-{len(self.calls)}"


class SklearnLogging(unittest.TestCase):
    MODEL = object()
    COMMON = {"signature": "sig", "input_example": "example", "name": "model", "pip_requirements": ["scikit-learn==1", "PyYAML==6", "mlflow==3"]}

    def pins(self, *extra):
        return sorted({*self.COMMON["pip_requirements"], *extra}, key=str.lower)

    def test_skops_where_mlflow_offers_it_with_skops_pinned(self):
        flavour = FakeSklearnFlavour(skops="skops-format")
        self.assertEqual(rm._log_sklearn(flavour, self.MODEL, dict(self.COMMON)), "logged-1")
        skops = f"skops=={importlib.metadata.version('skops')}"
        self.assertEqual(flavour.calls, [{"sk_model": self.MODEL, "serialization_format": "skops-format", "signature": "sig", "input_example": "example",
                                          "name": "model", "pip_requirements": self.pins(skops)}])
        self.assertEqual(flavour.calls[0]["pip_requirements"][:2], ["mlflow==3", "PyYAML==6"])

    def test_cloudpickle_when_skops_does_not_trust_a_type(self):
        from mlflow.exceptions import MlflowException

        flavour = FakeSklearnFlavour(failures=[MlflowException("Untrusted types found in the model: ['fraud.Scaler']")])
        self.assertEqual(rm._log_sklearn(flavour, self.MODEL, dict(self.COMMON)), "logged-2")
        cloudpickle = f"cloudpickle=={importlib.metadata.version('cloudpickle')}"
        self.assertEqual(flavour.calls[1], {"sk_model": self.MODEL, "serialization_format": "cloudpickle", "signature": "sig", "input_example": "example",
                                            "name": "model", "pip_requirements": self.pins(cloudpickle)})

    def test_other_failures_are_not_retried(self):
        failure = RuntimeError("disk full")
        flavour = FakeSklearnFlavour(failures=[failure])
        with self.assertRaises(RuntimeError) as raised:
            rm._log_sklearn(flavour, self.MODEL, dict(self.COMMON))
        self.assertIs(raised.exception, failure)
        self.assertEqual(len(flavour.calls), 1)

    def test_cloudpickle_without_skops_in_mlflow_or_installed(self):
        cloudpickle = f"cloudpickle=={importlib.metadata.version('cloudpickle')}"
        for flavour, patch in [
            (FakeSklearnFlavour(skops=None, cloudpickle="cp-format"), contextlib.nullcontext()),
            (FakeSklearnFlavour(cloudpickle="cp-format"), mock.patch.dict(sys.modules, {"skops": None, "skops.io": None})),
        ]:
            with patch:
                rm._log_sklearn(flavour, self.MODEL, dict(self.COMMON))
            self.assertEqual([(c["sk_model"], c["serialization_format"], c["pip_requirements"]) for c in flavour.calls], [(self.MODEL, "cp-format", self.pins(cloudpickle))])
        older = FakeSklearnFlavour(skops=None, cloudpickle=None)  # an MLflow without the constants names the format "cloudpickle"
        rm._log_sklearn(older, self.MODEL, dict(self.COMMON))
        self.assertEqual(older.calls[0]["serialization_format"], "cloudpickle")


class LoggedModelLocation(unittest.TestCase):
    def test_name_from_mlflow_3_artifact_path_before(self):
        self.assertEqual(rm.logged_model_location("3.0.0"), {"name": "model"})
        self.assertEqual(rm.logged_model_location("3.17.2"), {"name": "model"})
        self.assertEqual(rm.logged_model_location("10.1"), {"name": "model"})
        self.assertEqual(rm.logged_model_location("2.22.1"), {"artifact_path": "model"})


class PinnedRequirementsUnits(unittest.TestCase):
    def test_standard_library_and_builtins_are_skipped_and_sorted_without_case(self):
        # (fraud_lib is installed nowhere but in the mapping given: the mapping is what is used.)
        distributions = {"sklearn": ["scikit-learn"], "yaml": ["PyYAML"], "numpy": ["numpy"], "fraud_lib": ["fraud-lib"]}
        pins = rm.pinned_requirements({"builtins", "__main__", "__builtin__", "collections.abc", "sklearn.pipeline", "yaml", "numpy.core", "fraud_lib.models"},
                                      distributions, lambda dist: {"scikit-learn": "1.9", "PyYAML": "6.0", "numpy": "2.1", "fraud-lib": "0.1"}[dist])
        self.assertEqual(pins, ["fraud-lib==0.1", "numpy==2.1", "PyYAML==6.0", "scikit-learn==1.9"])

    def test_every_unknown_module_is_named(self):
        message = refused(rm.pinned_requirements, {"zeta_local", "alpha_local", "numpy"}, {"numpy": ["numpy"]}, lambda dist: "1")
        self.assertEqual(message, "the model uses alpha_local, zeta_local, which no installed package provides (a local module?): "
                                  "the serving container could not import it; package it and install it here")


class MainUnits(unittest.TestCase):
    def run_main(self, argv, error=None):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), mock.patch.object(rm, "register", side_effect=error) as register:
            status = rm.main(argv, out=out)
        return status, out.getvalue(), err.getvalue(), register

    def test_an_unexpected_error_is_its_type_and_first_line_scrubbed(self):
        with mock.patch.dict(os.environ, {"DATABRICKS_TOKEN": "dapi-very-secret"}):
            status, out, err, _ = self.run_main(["--pickle", "p", "--model", "m"], RuntimeError("dapi-very-secret\nline two"))
        self.assertEqual(status, 1)
        self.assertEqual(out, json.dumps({"error": "RuntimeError: ***"}) + "\n")
        self.assertEqual(err, "register_model: RuntimeError: ***\n")
        status, out, _, _ = self.run_main(["--pickle", "p", "--model", "m"], ZeroDivisionError())
        self.assertEqual(json.loads(out), {"error": "ZeroDivisionError"})
        status, out, _, _ = self.run_main(["--pickle", "p", "--model", "m"], RuntimeError("code X"))
        self.assertEqual(json.loads(out), {"error": "RuntimeError: code X"})

    def test_argv_defaults_to_the_command_line(self):
        with mock.patch.object(sys, "argv", ["register_model.py", "--pickle", "cli.pkl", "--model", "cli-model"]):
            status, out, err, register = self.run_main(None)
        self.assertEqual((status, out, err), (0, "", ""))
        self.assertEqual((register.call_args.args[0].pickle, register.call_args.args[0].name), ("cli.pkl", "cli-model"))

    def test_the_json_line_is_flushed_before_the_stderr_line(self):
        class Recorder(io.StringIO):
            flushed = False

            def flush(self):
                self.flushed = True

        out = Recorder()
        with contextlib.redirect_stderr(io.StringIO()):
            rm.main(["--model", "m"], out=out)
        self.assertTrue(out.flushed)


class RegisterHandOff(unittest.TestCase):
    """register() up to the registry: what it checks, computes and hands to _log_and_register."""

    def args(self, *extra):
        with mock.patch.dict(os.environ):
            os.environ.pop("MLFLOW_REGISTRY_URI", None)
            return rm.parse_args(["--pickle", demo_model()["model"], "--model", "fraud", *extra])

    def hand_off(self, args):
        import mlflow

        with mock.patch.object(rm, "_log_and_register", return_value="done") as log, \
                mock.patch.object(mlflow, "set_tracking_uri") as tracking, mock.patch.object(mlflow, "set_registry_uri") as registry:
            self.assertEqual(rm.register(args, out=io.StringIO(), sleep="the-sleep"), "done")
        return log.call_args.args, tracking, registry

    def test_the_databricks_registries_point_mlflow_at_the_workspace(self):
        for name, extra in [("main.dev.fraud", ["--registry", "databricks-uc", "--schema", "main.dev"]), ("fraud", ["--registry", "databricks"])]:
            args = self.args("--sample", demo_model()["sample"], *extra)
            _, tracking, registry = self.hand_off(args)
            tracking.assert_called_once_with("databricks")
            registry.assert_called_once_with(args.registry)
            self.assertEqual(args.name, name)
        _, tracking, registry = self.hand_off(self.args("--registry", "mlflow"))
        self.assertEqual((tracking.call_count, registry.call_count), (0, 0))

    def test_the_model_its_signature_example_and_requirements(self):
        import mlflow
        import pandas

        demo = demo_model()
        args = self.args("--sample", demo["sample"])
        (mlflow_module, passed_args, model, data, flavour, requirements, signature, example, out, sleep), _, _ = self.hand_off(args)
        self.assertIs(mlflow_module, mlflow)
        self.assertIs(passed_args, args)
        with open(demo["model"], "rb") as handle:
            self.assertEqual(data, handle.read())
        self.assertEqual((type(model).__name__, flavour, sleep), ("Pipeline", "sklearn", "the-sleep"))
        self.assertEqual(list(example.columns), demo["expected"]["columns"])
        self.assertEqual(len(example), 5)
        pandas.testing.assert_frame_equal(example, pandas.read_csv(demo["sample"]).head(5), check_dtype=False)
        self.assertEqual(signature.inputs.input_names(), demo["expected"]["columns"])
        self.assertIsNotNone(signature.outputs)
        self.assertEqual(requirements, sorted(requirements, key=str.lower))
        self.assertIn(f"mlflow=={mlflow.__version__}", requirements)
        self.assertIn(f"scikit-learn=={importlib.metadata.version('scikit-learn')}", requirements)
        self.assertIn(f"numpy=={importlib.metadata.version('numpy')}", requirements)

    def test_without_a_sample_there_is_no_signature_or_example(self):
        (_, _, _, _, _, _, signature, example, _, _), _, _ = self.hand_off(self.args())
        self.assertEqual((signature, example), (None, None))

    def test_the_files_are_named_in_refusals(self):
        self.assertEqual(refused(rm.register, self.args_with("--pickle", "/nope/model.pkl")), "pickle /nope/model.pkl does not exist")
        self.assertEqual(refused(rm.register, self.args("--sample", "/nope/s.csv")), "sample /nope/s.csv does not exist")
        empty = os.path.join(tempfile.mkdtemp(), "empty.pkl")
        open(empty, "wb").close()
        self.assertEqual(refused(rm.register, self.args_with("--pickle", empty)), f"{empty} is empty: it holds no pickled model")

    def args_with(self, flag, value):
        with mock.patch.dict(os.environ):
            os.environ.pop("MLFLOW_REGISTRY_URI", None)
            return rm.parse_args([flag, value, "--model", "fraud"])

    def test_a_sample_the_model_cannot_predict_on(self):
        folder = tempfile.mkdtemp()
        sample = os.path.join(folder, "wrong.csv")
        with open(sample, "w", encoding="utf-8") as handle:
            handle.write("colour\nred\n")
        self.assertEqual(refused(rm.register, self.args("--sample", sample)),  # scikit-learn's text, of the version requirements.txt pins
                         f"the model's predict failed on the sample {sample} (ValueError: The feature names should match those that were passed during fit.): is it the right sample for this model?")

    def test_requirements_sort_without_case_with_mlflow_pinned(self):
        import mlflow

        with mock.patch.object(rm, "pinned_requirements", return_value=["PyYAML==6.0", "numpy==2.1"]):
            (_, _, _, _, _, requirements, _, _, _, _), _, _ = self.hand_off(self.args())
        self.assertEqual(requirements, sorted(["numpy==2.1", "PyYAML==6.0", f"mlflow=={mlflow.__version__}"], key=str.lower))
        self.assertEqual(requirements[-1], "PyYAML==6.0")


def short(text):
    """SHORT_BINUNICODE of `text`."""
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


class PickleScan(unittest.TestCase):
    """The opcode walk that finds a pickle's globals, on pickles written byte by byte."""

    def globals_of(self, data):
        return rm.pickle_globals(data)

    def test_the_protocol_is_read_and_0_without_a_proto_opcode(self):
        self.assertEqual(self.globals_of(pickle_of({"a": 1}, 0)), ([], 0))
        self.assertEqual(self.globals_of(pickle_of({"a": 1}, 4))[1], 4)

    def test_every_ext_opcode(self):
        for op in (b"\x82\x01", b"\x83\x01\x00", b"\x84\x01\x00\x00\x00"):
            self.assertEqual(self.globals_of(b"\x80\x02" + op + b"."), ([(None, "extension", 2)], 2), op)

    def test_global_and_inst_split_module_from_name_at_the_first_space(self):
        self.assertEqual(self.globals_of(b"(S'touch x'\nios\nsystem\n."), ([("os", "system", 12)], 0))
        self.assertEqual(self.globals_of(b"cfraud\tlib\nodd name here\n."), ([("fraud\tlib", "odd name here", 0)], 0))

    def test_stack_global_with_too_few_values(self):
        self.assertEqual(self.globals_of(b"\x80\x04\x93."), ([(None, "stack", 2)], 4))
        self.assertEqual(self.globals_of(b"\x80\x04" + short("os") + b"\x93."), ([(None, "stack", 6)], 4))

    def test_strings_through_put_and_get(self):
        data = b"\x80\x04" + short("os") + b"q\x00" + short("system") + b"q\x01" + b"h\x00h\x01\x93."
        self.assertEqual(self.globals_of(data)[0], [("os", "system", len(data) - 2)])

    def test_dup(self):
        data = b"\x80\x04" + short("os") + b"2\x93."
        self.assertEqual(self.globals_of(data)[0], [("os", "os", 7)])

    def test_a_mark_keeps_what_lies_below_it(self):
        # "os" "system" MARK "junk" TUPLE POP STACK_GLOBAL: the tuple takes only what is above the mark.
        data = b"\x80\x04" + short("os") + short("system") + b"(" + short("junk") + b"t0\x93."
        self.assertEqual(self.globals_of(data)[0], [("os", "system", len(data) - 2)])

    def test_a_stack_global_result_is_not_a_name(self):
        # STACK_GLOBAL's result used as the module of the next one: not a string, so not followed.
        data = b"\x80\x04" + short("collections") + short("OrderedDict") + b"\x93" + short("x") + b"\x93."
        self.assertEqual(self.globals_of(data)[0], [("collections", "OrderedDict", 28), (None, "stack", len(data) - 2)])

    def test_the_walk_goes_on_after_a_stack_global(self):
        from jobs.tests.helpers import RunsShell

        found, _ = self.globals_of(pickle_of([collections_ordered_dict(), RunsShell("/tmp/x")], 4))
        self.assertEqual([(m, n) for m, n, _ in found], [("collections", "OrderedDict"), ("posix", "system")])

    def test_protocol_2_names_are_mapped_only_below_protocol_3(self):
        self.assertEqual(rm._python2_name("__builtin__", "set", 2), ("builtins", "set"))
        self.assertEqual(rm._python2_name("__builtin__", "xrange", 2), ("builtins", "range"))
        self.assertEqual(rm._python2_name("__builtin__", "set", 3), ("__builtin__", "set"))

    def test_refusals_of_globals_the_scan_cannot_name(self):
        self.assertEqual(refused(rm.scan_pickle, b"\x80\x02\x82\x01.", "m.pkl", rm.GlobalPolicy()), (
            "m.pkl refused before unpickling: at byte 2 it imports a global through copyreg's extension registry (an EXT opcode); "
            "pickle.dump does not write this: save the model again with pickle.dump"
        ))
        self.assertEqual(refused(rm.scan_pickle, b"\x80\x04\x93.", "m.pkl", rm.GlobalPolicy()), (
            "m.pkl refused before unpickling: at byte 2 it imports a global whose module and name the scan cannot tell (a STACK_GLOBAL not built from plain strings); "
            "pickle.dump does not write this: save the model again with pickle.dump"
        ))


def pickle_of(obj, protocol):
    import pickle

    return pickle.dumps(obj, protocol=protocol)


def collections_ordered_dict():
    import collections

    return collections.OrderedDict(a=1)


class Policy(unittest.TestCase):
    HINT = "builtins other than data types, os, subprocess, sys, importlib, pickle, operator and the like can never be allowed"

    def test_allow_global_needs_module_and_attribute(self):
        for full in ("Scaler", ".Scaler", "fraud.", "os.system", "builtins.eval"):
            self.assertEqual(refused(rm.GlobalPolicy, [full]), f"--allow-global {full}: give module.attribute of a model class or function; {self.HINT}", full)
        self.assertEqual(rm.GlobalPolicy(["fraud.os.Scaler", "X.Model"]).extra_globals, frozenset({"fraud.os.Scaler", "X.Model"}))

    def test_allow_module_needs_an_importable_package_that_may_be_allowed(self):
        for module in ("os", "os.path", "subprocess", "1fraud", "fraud-features", "fraud..x"):
            self.assertEqual(refused(rm.GlobalPolicy, (), [module]),
                             f"--allow-module {module}: give an importable package of your own (such as fraud_features); {self.HINT}", module)
        self.assertEqual(rm.GlobalPolicy((), ["FraudLib", "_private.models"]).extra_modules, ("FraudLib", "_private.models"))

    def test_what_refusal_says(self):
        policy = rm.GlobalPolicy()
        for (module, name), expected in [
            (("numpy", "core.multiarray"), "dotted"),
            (("numpy.testing", "assert_equal"), "denied"),
            (("numpy.lib._npyio_impl", "NpzFile"), "denied"),
            (("numpy", "load"), "denied"),
            (("numpy", "ndarray"), None),
            (("fraud_scorer", "ThresholdScorer"), "unknown"),
            (("os", "system"), "never"),
            (("builtins", "set"), None),
        ]:
            self.assertEqual(policy.refusal(module, name), expected, (module, name))

    def test_never(self):
        for (module, name), expected in [
            (("numpy", "os.system"), True),
            (("pandas.io.common", "os"), True),
            (("numpy", "trace.x"), True),
            (("numpy", "trace"), False),
            (("numpy", "select"), False),
            (("fraud_scorer", "Outer.Inner"), False),
            (("numpy", "__reduce__"), True),
            (("numpy", "__x__"), True),
            (("numpy", "____"), False),
            (("numpy", "__private"), False),
            (("builtins", "set"), False),
            (("builtins", "eval"), True),
        ]:
            self.assertEqual(bool(rm.GlobalPolicy.never(module, name)), expected, (module, name))

    def test_refusal_messages(self):
        self.assertEqual(rm._refusal_message("m.pkl", "__main__", "Scaler", "unknown"), (
            "m.pkl refers to Scaler, a class or function defined in the script or notebook that trained it (__main__), which does not exist here "
            "and is not allowed: move it into an importable package installed here and pass --allow-module PACKAGE, or wrap the model in a scikit-learn Pipeline"
        ))
        self.assertEqual(rm._refusal_message("m.pkl", "posix", "system", "never"), (
            "m.pkl refused before unpickling: it imports posix.system, which can run commands or code when the pickle is loaded and is never allowed. "
            "This pickle was made to run code, or by a tool that pickles code (cloudpickle, dill): do not register it; save the fitted model itself with pickle.dump"
        ))
        self.assertEqual(rm._refusal_message("m.pkl", "numpy", "core.multiarray", "dotted"),
                         "m.pkl refused before unpickling: it imports numpy.core.multiarray, a nested attribute path: pass --allow-global numpy.core.multiarray if it is a class of your own package")
        self.assertEqual(rm._refusal_message("m.pkl", "fraud_scorer.models", "Scaler", "unknown"), (
            "m.pkl refused before unpickling: it imports fraud_scorer.models.Scaler, which is not on the allow-list of model libraries "
            "(sklearn, numpy, scipy, pandas, xgboost, lightgbm, catboost and plain data types). If it is a class of your own package installed here, "
            "pass --allow-module fraud_scorer (or --allow-global fraud_scorer.models.Scaler)"
        ))


class Unpickling(unittest.TestCase):
    def test_the_unpickler_refuses_on_its_own_without_the_scan(self):
        unpickler = rm._GuardedUnpickler(io.BytesIO(b"cos\nsystem\n."), rm.GlobalPolicy(), 2, "m.pkl")
        self.assertEqual(refused(unpickler.load), rm._refusal_message("m.pkl", "os", "system", "never"))

    def test_a_global_that_is_a_module(self):
        self.assertEqual(refused(rm.load_pickle, b"\x80\x02cnumpy\nlinalg\n.", "m.pkl"),
                         "m.pkl refused while unpickling: numpy.linalg is a module, which model pickles never import by name")

    def test_a_class_the_installed_library_does_not_have(self):
        self.assertEqual(refused(rm.load_pickle, b"\x80\x02csklearn.linear_model\nNoSuchModel\n.", "m.pkl"),
                         "m.pkl refers to sklearn.linear_model.NoSuchModel, which the installed sklearn does not have: install the library version it was pickled with")

    def test_a_library_that_is_not_installed(self):
        with mock.patch.dict(sys.modules, {"catboost": None}):
            self.assertEqual(refused(rm.load_pickle, b"\x80\x02ccatboost\nCatBoostClassifier\n.", "m.pkl"), (
                "m.pkl needs the Python module 'catboost', which is not installed here: install the library that provides it "
                "(for the job, add it to the job environment's dependencies)"
            ))

    def test_other_failures_while_unpickling(self):
        self.assertEqual(refused(rm.load_pickle, b"\x80\x02cbuiltins\nint\nX\x03\x00\x00\x00abc\x85R.", "m.pkl"),
                         "m.pkl could not be unpickled: ValueError: invalid literal for int() with base 10: 'abc'")
        with mock.patch.object(rm._GuardedUnpickler, "load", side_effect=RuntimeError()):
            self.assertEqual(refused(rm.load_pickle, pickle_of({"a": 1}, 4), "m.pkl"), "m.pkl could not be unpickled: RuntimeError")
        with mock.patch.object(rm._GuardedUnpickler, "load", side_effect=RuntimeError("bad state X")):
            self.assertEqual(refused(rm.load_pickle, pickle_of({"a": 1}, 4), "m.pkl"), "m.pkl could not be unpickled: RuntimeError: bad state X")

    def test_the_path_is_named_before_unpickling(self):
        self.assertEqual(refused(rm.load_pickle, b"", "models/m.pkl"), "models/m.pkl is empty: it holds no pickled model")


class NotModels(unittest.TestCase):
    class Model:
        def predict(self, rows):
            return rows

    def test_dicts_and_lists_say_where_a_model_is(self):
        self.assertEqual(refused(rm.check_model, {"a": 1, 2: "b", "c": 3, "d": 4, "e": 5, "f": 6}, "m.pkl"),
                         "m.pkl holds a dict, not a model: a model must have a predict method (keys: a, 2, c, d, e)")
        self.assertEqual(refused(rm.check_model, {"meta": 1, "model": self.Model()}, "m.pkl"),
                         "m.pkl holds a dict, not a model: a model must have a predict method: its key 'model' holds one; pickle that object on its own")
        self.assertEqual(refused(rm.check_model, ["scaler", self.Model(), self.Model()], "m.pkl"),
                         "m.pkl holds a list, not a model: a model must have a predict method: item 1 holds one; pickle that object on its own")
        self.assertEqual(refused(rm.check_model, ("a", "b"), "m.pkl"), "m.pkl holds a tuple, not a model: a model must have a predict method")

    def test_sklearn_estimators_are_told_by_their_base_class(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.utils import Bunch

        class BaseEstimator:  # a class of that name outside sklearn
            def predict(self, rows):
                return rows

        self.assertTrue(rm.is_sklearn_estimator(LogisticRegression()))
        self.assertFalse(rm.is_sklearn_estimator(BaseEstimator()))
        self.assertFalse(rm.is_sklearn_estimator(Bunch(a=1)))


class Aliases(unittest.TestCase):
    def test_letters_of_either_case_digits_underscore_and_dash(self):
        self.assertEqual(rm.check_alias("Champion_2-b"), "Champion_2-b")
        self.assertEqual(refused(rm.check_alias, "chal lenger"), "alias 'chal lenger' is not allowed: use letters, digits, '_' or '-'")
        self.assertEqual(refused(rm.check_alias, "x" * 256), f"alias {'x' * 256!r} is not allowed: use letters, digits, '_' or '-'")


class Readers(unittest.TestCase):
    def test_the_spark_reader_is_told_what_it_reads(self):
        seen = []
        rm.read_bytes("abfss://c@a.dfs.core.windows.net/s.csv", "sample", lambda uri, what: seen.append((uri, what)) or b"x")
        self.assertEqual(seen, [("abfss://c@a.dfs.core.windows.net/s.csv", "sample")])

    def test_register_reads_both_files_through_the_spark_reader(self):
        demo, seen = demo_model(), []
        files = {"abfss://models@a.dfs.core.windows.net/fraud/model.pkl": demo["model"], "abfss://models@a.dfs.core.windows.net/fraud/sample.csv": demo["sample"]}

        def reader(uri, what):
            seen.append((uri, what))
            with open(files[uri], "rb") as handle:
                return handle.read()

        with mock.patch.dict(os.environ):
            os.environ.pop("MLFLOW_REGISTRY_URI", None)
            args = rm.parse_args(["--pickle", list(files)[0], "--model", "fraud", "--sample", list(files)[1]])
        with mock.patch.object(rm, "_log_and_register", return_value="done"):
            self.assertEqual(rm.register(args, out=io.StringIO(), spark_reader=reader), "done")
        self.assertEqual(seen, [(list(files)[0], "pickle"), (list(files)[1], "sample")])


if __name__ == "__main__":
    unittest.main()
