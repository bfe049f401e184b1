#!/usr/bin/env python3
"""MLflow's scoring app with nothing around it: the baseline `npm run bench` compares serve_model.py
(request records, metrics and the payload log around the same app) against.

    python bench/bare_scoring.py --model-dir <folder> --port 5098

The same app, loader and uvicorn settings as serve_model.py with one worker (scoring_app.py),
without RequestRecords; no access log, as serve_model.py runs it.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serving"))


def main(argv):
    parser = argparse.ArgumentParser(description="Serve a model folder with MLflow's bare scoring app (the bench's baseline).")
    parser.add_argument("--model-dir", required=True, help="the model's folder")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    args = parser.parse_args(argv)
    import uvicorn
    from mlflow.pyfunc import scoring_server

    import scoring_app

    app = scoring_server.init(scoring_app.load_model(args.model_dir))
    uvicorn.run(app, host="127.0.0.1", port=args.port, workers=1, access_log=False, timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
