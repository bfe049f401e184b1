"""A model library that is not scikit-learn, as a data scientist's own package would be: the
pyfunc flavour's real object. The tests install it (a dist-info beside it, as pip leaves one)
and pickle its classes under the top-level name `fraud_scorer`."""


class ThresholdScorer:
    """Flags transactions above a threshold; predicts on a pandas DataFrame."""

    def __init__(self, threshold=100.0):
        self.threshold = threshold

    def predict(self, frame):
        return (frame["transaction_amount"] > self.threshold).astype(int).to_numpy()


class NoPredict:
    pass
