import os
import tempfile
import unittest

from serving.model_files import (
    ModelFilesError,
    check_model_dir,
    mlflow_requirement,
    parse_credentials,
    parse_model_uri,
    python_version,
)
from serving.tests.helpers import write_model


class CheckModelDir(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()

    def test_returns_the_python_major_minor_of_a_complete_model(self):
        folder = write_model(os.path.join(self.root, "m"), python="3.12.4")
        self.assertEqual(check_model_dir(folder, "fraud", "7"), "3.12")

    def test_names_model_version_and_each_missing_file(self):
        folder = write_model(os.path.join(self.root, "m"), skip=("requirements.txt", "python_env.yaml"))
        with self.assertRaises(ModelFilesError) as caught:
            check_model_dir(folder, "fraud", "7")
        message = str(caught.exception)
        self.assertIn("model fraud version 7", message)
        self.assertIn("no requirements.txt, python_env.yaml", message)
        self.assertIn("re-log the model", message)

    def test_refuses_an_unsupported_python_naming_both_versions(self):
        folder = write_model(os.path.join(self.root, "m"), python="3.7.9")
        with self.assertRaises(ModelFilesError) as caught:
            check_model_dir(folder, "fraud", "3")
        message = str(caught.exception)
        self.assertIn("logged with Python 3.7", message)
        self.assertIn("Python 3.9 to 3.13", message)

    def test_refuses_requirements_without_mlflow(self):
        folder = write_model(os.path.join(self.root, "m"), requirements="scikit-learn==1.5.0\n")
        with self.assertRaisesRegex(ModelFilesError, "names no mlflow package"):
            check_model_dir(folder, "fraud", "3")

    def test_a_missing_folder(self):
        with self.assertRaisesRegex(ModelFilesError, "no model folder at"):
            check_model_dir(os.path.join(self.root, "absent"))


class Parsing(unittest.TestCase):
    def test_python_version_forms(self):
        self.assertEqual(python_version("python: 3.11.7\n"), "3.11")
        self.assertEqual(python_version("build_dependencies: []\npython: '3.10'\n"), "3.10")
        with self.assertRaisesRegex(ModelFilesError, "no line like"):
            python_version("dependencies: []\n")

    def test_mlflow_requirement(self):
        self.assertEqual(mlflow_requirement("# pinned\nmlflow==2.11.3\npandas\n"), "mlflow==2.11.3")
        self.assertEqual(mlflow_requirement("mlflow-skinny[databricks]>=3.1\n"), "mlflow-skinny[databricks]>=3.1")
        self.assertIsNone(mlflow_requirement("mlflowx==1\nscikit-learn\n"))

    def test_credentials_accept_known_keys_only_and_never_echo_values(self):
        self.assertEqual(parse_credentials("DATABRICKS_TOKEN=fake-token-for-tests\n\n"), {"DATABRICKS_TOKEN": "fake-token-for-tests"})
        with self.assertRaises(ModelFilesError) as caught:
            parse_credentials("AWS_SECRET=fake-value-for-tests\n")
        self.assertIn("line 1", str(caught.exception))
        self.assertNotIn("fake-value-for-tests", str(caught.exception))
        with self.assertRaisesRegex(ModelFilesError, "both MLFLOW_TRACKING_USERNAME"):
            parse_credentials("MLFLOW_TRACKING_USERNAME=alice\n")

    def test_model_uri_must_pin_a_version(self):
        self.assertEqual(parse_model_uri("models:/main.fraud.fraud/12"), ("main.fraud.fraud", "12"))
        for bad in ("models:/fraud@champion", "models:/fraud/latest", "runs:/abc/model", ""):
            with self.assertRaisesRegex(ModelFilesError, "models:/<name>/<version>"):
                parse_model_uri(bad)


if __name__ == "__main__":
    unittest.main()
