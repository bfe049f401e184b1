"""A pyfunc model (MLflow's "models from code") whose predict takes SLOW_MODEL_SECONDS (default 2 s):
a request that is surely still in flight when the SIGTERM test stops the server."""
import os
import time

import mlflow.pyfunc
from mlflow.models import set_model


class SlowModel(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        marker = os.environ.get("SLOW_MODEL_MARKER")
        if marker:  # tells the test the request is in flight
            with open(marker, "w", encoding="utf-8") as handle:
                handle.write("started\n")
        time.sleep(float(os.environ.get("SLOW_MODEL_SECONDS", "2")))
        return [len(model_input)] * len(model_input)


set_model(SlowModel())
