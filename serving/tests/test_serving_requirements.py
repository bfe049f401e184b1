"""serving_requirements.py: what the scoring environment installs for a model's requirements.txt."""
import os
import tempfile
import unittest

from serving.serving_requirements import RequirementsError, serving_requirements
from serving.tests.helpers import run_script

# What every MLflow 3.x model gets for scoring_telemetry.py (the exact pins, spelled out).
# (azure-identity, which it needs too, is already added for the payload log.)
TELEMETRY = "opentelemetry-sdk==1.45.2\nazure-monitor-opentelemetry-exporter==1.0.0b58\n"


class Rewrite(unittest.TestCase):
    def test_mlflow_3_becomes_skinny_plus_pandas(self):
        text, note = serving_requirements("mlflow==3.17.2\nnumpy==2.4.6\nscikit-learn==1.9.1\n")
        self.assertEqual(text, "mlflow-skinny==3.17.2\nnumpy==2.4.6\nscikit-learn==1.9.1\npandas\nprometheus-client==0.26.0\nazure-storage-blob==12.31.1\nazure-identity==1.27.0\n" + TELEMETRY)
        self.assertIn("mlflow==3.17.2 -> mlflow-skinny==3.17.2", note)

    def test_a_pinned_pandas_is_kept_and_not_added_twice(self):
        text, _ = serving_requirements("# logged by MLflow\nmlflow==3.1.0 ; python_version >= '3.9'\nPandas==2.2.3\n")
        self.assertEqual(text, "# logged by MLflow\nmlflow-skinny==3.1.0; python_version >= '3.9'\nPandas==2.2.3\nprometheus-client==0.26.0\nazure-storage-blob==12.31.1\nazure-identity==1.27.0\n" + TELEMETRY)

    def test_the_metrics_library_is_pinned_and_a_models_own_pin_wins(self):
        text, note = serving_requirements("mlflow==3.17.2\n")
        self.assertEqual(text, "mlflow-skinny==3.17.2\npandas\nprometheus-client==0.26.0\nazure-storage-blob==12.31.1\nazure-identity==1.27.0\n" + TELEMETRY)
        self.assertIn("+ prometheus-client==0.26.0", note)
        text, note = serving_requirements("mlflow==3.17.2\nprometheus_client==0.20.0 # the model's\n")
        self.assertEqual(text, "mlflow-skinny==3.17.2\nprometheus_client==0.20.0 # the model's\npandas\nazure-storage-blob==12.31.1\nazure-identity==1.27.0\n" + TELEMETRY)
        self.assertNotIn("prometheus-client==0.26.0", note)

    def test_the_payload_logs_libraries_are_pinned_and_a_models_own_pin_wins(self):
        text, note = serving_requirements("mlflow==3.17.2\nazure-storage-blob==12.20.0\n")
        self.assertEqual(text, "mlflow-skinny==3.17.2\nazure-storage-blob==12.20.0\npandas\nprometheus-client==0.26.0\nazure-identity==1.27.0\n" + TELEMETRY)
        self.assertIn("+ azure-identity==1.27.0 (the payload log)", note)

    def test_the_telemetry_packages_are_pinned_and_a_models_own_pins_win(self):
        text, note = serving_requirements("mlflow==3.17.2\n")
        self.assertIn("+ opentelemetry-sdk==1.45.2 azure-monitor-opentelemetry-exporter==1.0.0b58 (metrics to Application Insights)", note)
        text, note = serving_requirements("mlflow==3.17.2\nOpenTelemetry_SDK==1.45.0\nazure-identity>=1.20 # the model's\n")
        self.assertEqual(text, "mlflow-skinny==3.17.2\nOpenTelemetry_SDK==1.45.0\nazure-identity>=1.20 # the model's\npandas\n"
                               "prometheus-client==0.26.0\nazure-storage-blob==12.31.1\nazure-monitor-opentelemetry-exporter==1.0.0b58\n")
        self.assertNotIn("opentelemetry-sdk==1.45.2", note)

    def test_mlflow_2_and_unpinned_or_extras_stay_full_mlflow(self):
        for requirements in ("mlflow==2.11.3\nscikit-learn==1.4.2\n", "mlflow>=3\n", "mlflow[gateway]==3.1.0\n", "mlflow-skinny==3.2.0\n"):
            with self.subTest(requirements=requirements):
                self.assertEqual(serving_requirements(requirements), (requirements, None))

    def test_refuses_mlflow_skinny_2(self):
        for pin in ("mlflow-skinny==2.11.3", "mlflow-skinny<3", "mlflow-skinny>=2.1,<3.0", "MLflow_Skinny~=2.9"):
            with self.subTest(pin=pin):
                with self.assertRaises(RequirementsError) as caught:
                    serving_requirements(f"{pin}\npandas\n")
                self.assertIn("MLflow 2.x skinny has no scoring server", str(caught.exception))
                self.assertIn(pin, str(caught.exception))


class Command(unittest.TestCase):
    def test_writes_the_output_and_says_what_changed(self):
        root = tempfile.mkdtemp()
        source, target = os.path.join(root, "requirements.txt"), os.path.join(root, "out.txt")
        with open(source, "w", encoding="utf-8") as handle:
            handle.write("mlflow==3.17.2\n")
        result = run_script("serving_requirements.py", [source, target])
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(target, encoding="utf-8") as handle:
            self.assertEqual(handle.read(), "mlflow-skinny==3.17.2\npandas\nprometheus-client==0.26.0\nazure-storage-blob==12.31.1\nazure-identity==1.27.0\n" + TELEMETRY)
        self.assertIn("mlflow-skinny==3.17.2", result.stderr)

    def test_refusal_and_missing_file_are_one_line_errors(self):
        root = tempfile.mkdtemp()
        source = os.path.join(root, "requirements.txt")
        with open(source, "w", encoding="utf-8") as handle:
            handle.write("mlflow-skinny==2.11.3\n")
        result = run_script("serving_requirements.py", [source, os.path.join(root, "out.txt")])
        self.assertEqual(result.returncode, 1)
        self.assertIn("cannot serve this model", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        result = run_script("serving_requirements.py", [os.path.join(root, "absent.txt"), os.path.join(root, "out.txt")])
        self.assertEqual(result.returncode, 1)
        self.assertIn("cannot read", result.stderr)


if __name__ == "__main__":
    unittest.main()
