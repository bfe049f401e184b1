"""A pyfunc model (MLflow's "models from code") whose predict fails as the row's x asks:
x == 1: an MlflowException with INTERNAL_ERROR (MLflow answers 500 with that error_code);
x == 2: a ValueError (MLflow answers 400 BAD_REQUEST);
x == 3: a prediction json cannot encode (an unhandled TypeError: 500 from the server itself);
else one prediction per row."""
import mlflow.pyfunc
from mlflow.exceptions import MlflowException
from mlflow.models import set_model
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR


class FailingModel(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        first = float(model_input["x"].iloc[0])
        if first == 1:
            raise MlflowException("the model's store is down", error_code=INTERNAL_ERROR)
        if first == 2:
            raise ValueError("x must not be 2")
        if first == 3:
            return [object()]
        return [0] * len(model_input)


set_model(FailingModel())
