#!/usr/bin/env python3
"""Downloads one registered model version into a folder and checks it can be served.

The image build runs it in its `fetch` stage with the registry credential mounted as a BuildKit
secret; a developer runs the same script against any MLflow tracking server:

    MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python serving/fetch_model.py models:/fraud/3 --dest ./model

It writes the model's files to --dest, and, with --env-dir, the two files the image's Python
environment is built from (requirements.txt and python-version), so that stage's cache follows
the model's requirements, not its weights.
"""
import argparse
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_files import CREDENTIAL_KEYS, ModelFilesError, check_model_dir, describe, parse_credentials, parse_model_uri  # noqa: E402

REGISTRY_KINDS = ("mlflow", "databricks", "unity-catalog")


def registry_uris(kind, url):
    """MLflow tracking and registry URIs, and extra environment, for a registry kind and host."""
    if kind == "mlflow":
        return url, url, {}
    # Databricks registries: MLflow's client reads the host from DATABRICKS_HOST.
    return "databricks", ("databricks-uc" if kind == "unity-catalog" else "databricks"), {"DATABRICKS_HOST": url}


def redact(text, secrets):
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


# MLflow's client retries a registry that does not answer for minutes by default (7 retries,
# backoff factor 2, 120 s per request: mlflow/environment_variables.py). A build should fail in
# seconds instead; a value already set in the environment wins.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}

# How requests/urllib3 (under MLflow's client) word a server that cannot be reached.
UNREACHABLE = re.compile(
    r"Max retries exceeded|Failed to establish a new connection|Connection refused|Connection reset|"
    r"timed out|Name or service not known|Temporary failure in name resolution|nodename nor servname|"
    r"RemoteDisconnected|ConnectionError|ConnectTimeout|ReadTimeout",
    re.IGNORECASE,
)


def explain_download_error(err, who, registry, credential_given=True):
    """A one-paragraph reason for a failed download, from MLflow's error code where it has one."""
    code = getattr(err, "error_code", "") or ""
    text = str(err).strip()
    first_line = (text.splitlines() or [type(err).__name__])[0][:300]
    if code in ("UNAUTHENTICATED",) or re.search(r"\b401\b", first_line):
        if not credential_given:
            return (
                f"{who}: the registry {registry} requires a credential and none was given. Put "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or a token (MLFLOW_TRACKING_TOKEN, "
                "DATABRICKS_TOKEN), in the build's secret file (--credentials-file) and deploy again."
            )
        return (
            f"{who}: the registry {registry} refused the build's credential (401 Unauthorized). "
            "Check the user and password, or renew the token (or `az login`), and deploy again."
        )
    if code in ("PERMISSION_DENIED",) or re.search(r"\b403\b", first_line):
        return f"{who}: the build's identity may not read this model at {registry} (403 Permission denied). Grant it read access (EXECUTE in Unity Catalog, CAN_READ in the workspace registry, READ in MLflow's basic-auth app)."
    if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
        return f"{who}: the registry {registry} has no such version, or its files are missing ({first_line}). Pick a version whose artifacts exist."
    if UNREACHABLE.search(text) or isinstance(err, (ConnectionError, TimeoutError)):
        return (
            f"{who}: the registry at {registry} does not answer (no connection, or no reply within "
            f"{os.environ.get('MLFLOW_HTTP_REQUEST_TIMEOUT', '?')} s after {os.environ.get('MLFLOW_HTTP_REQUEST_MAX_RETRIES', '?')} retries). "
            "Check --registry-url and that the registry is up and reachable from the build."
        )
    return f"{who}: downloading from {registry} failed: {type(err).__name__}: {first_line}"


def fetch(uri, dest, kind, url, credentials):
    name, version = parse_model_uri(uri)
    who = describe(name, version)
    tracking, registry, extra_env = registry_uris(kind, url)
    os.environ.update(extra_env)
    # Only for this process: the values come from the secret file and never reach a layer or a log.
    os.environ.update(credentials)
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    # Outside a build the client may also read a credential from the environment.
    credential_given = any(os.environ.get(key) for key in CREDENTIAL_KEYS)
    try:
        import mlflow  # noqa: WPS433 - loaded late so the checks above run without MLflow
    except ImportError:
        raise ModelFilesError(f"{who}: MLflow is not installed here: pip install -r serving/fetch-requirements.txt")
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)
    os.makedirs(dest, exist_ok=True)
    try:
        mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dest)
    except Exception as err:  # MLflow raises many types; each is reported the same way
        secrets = [os.environ.get(key, "") for key in CREDENTIAL_KEYS]
        raise ModelFilesError(redact(explain_download_error(err, who, url, credential_given), secrets))
    return name, version


def write_environment_spec(model_dir, env_dir, python):
    os.makedirs(env_dir, exist_ok=True)
    shutil.copyfile(os.path.join(model_dir, "requirements.txt"), os.path.join(env_dir, "requirements.txt"))
    with open(os.path.join(env_dir, "python-version"), "w", encoding="utf-8") as handle:
        handle.write(python + "\n")


def main(argv):
    parser = argparse.ArgumentParser(description="Download a registered MLflow model version into a folder.")
    parser.add_argument("model_uri", help="models:/<name>/<version>")
    parser.add_argument("--dest", required=True, help="folder for the model's files")
    parser.add_argument("--env-dir", help="folder for requirements.txt and python-version (image builds)")
    parser.add_argument("--registry-kind", choices=REGISTRY_KINDS, default=os.environ.get("REGISTRY_KIND") or None)
    parser.add_argument("--registry-url", default=os.environ.get("REGISTRY_URL") or None)
    parser.add_argument("--credentials-file", help="KEY=VALUE lines (the build's BuildKit secret)")
    args = parser.parse_args(argv)
    try:
        kind, url = args.registry_kind, args.registry_url
        if not url:
            # Outside a build: MLflow's own convention.
            url = os.environ.get("MLFLOW_TRACKING_URI", "")
            kind = kind or "mlflow"
        if not url or not url.startswith(("http://", "https://", "databricks")):
            raise ModelFilesError("set --registry-url (or MLFLOW_TRACKING_URI) to the registry's http:// or https:// address")
        if not kind:
            raise ModelFilesError(f"set --registry-kind to one of {', '.join(REGISTRY_KINDS)}")
        credentials = {}
        if args.credentials_file and os.path.exists(args.credentials_file):
            with open(args.credentials_file, encoding="utf-8") as handle:
                credentials = parse_credentials(handle.read())
        name, version = fetch(args.model_uri, args.dest, kind, url, credentials)
        python = check_model_dir(args.dest, name, version)
        if args.env_dir:
            write_environment_spec(args.dest, args.env_dir, python)
    except ModelFilesError as err:
        print(f"fetch_model: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"model": name, "version": version, "python": python, "dest": args.dest}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
