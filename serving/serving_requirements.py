#!/usr/bin/env python3
"""Rewrites a model's requirements.txt into what its scoring environment installs.

    python serving/serving_requirements.py <requirements.txt> <output file>

A model logged with MLflow 3.x pins the full `mlflow==X`, which brings the tracking server, its UI
and their dependencies; serving needs only `mlflow-skinny==X` (the same client and pyfunc code,
with FastAPI and uvicorn for the scoring server) plus pandas, which the scoring server imports and
skinny does not depend on, prometheus-client, which the image's own request metrics need
(scoring_metrics.py), and the OpenTelemetry exporter to Application Insights (scoring_telemetry.py:
opentelemetry-sdk, azure-monitor-opentelemetry-exporter, azure-identity). So:

- `mlflow==X` with X >= 3 (no extras: `mlflow[...]` is kept, its extras may be what the model needs): `mlflow-skinny==X`, and `pandas`, `prometheus-client` (pinned: PROMETHEUS_CLIENT), `azure-storage-blob` and `azure-identity` (pinned, for payload_log.py and scoring_telemetry.py) and the telemetry packages (pinned: TELEMETRY) if no line names them;
- `mlflow==X` with X < 3: unchanged (MLflow 2.x skinny has no scoring server: no Flask, no gunicorn);
- `mlflow-skinny` pinned to 2.x: refused, it cannot serve;
- anything else (other pins of mlflow, other packages): unchanged.

Standard library only: install_environment.sh runs it with the model's own Python before anything
is installed into it.
"""
import argparse
import re
import sys

REQUIREMENT = re.compile(
    r"^(?P<name>mlflow(?:[-_.]skinny)?)\s*(?P<extras>\[[^\]]*\])?\s*(?P<spec>[^;#]*?)\s*(?P<marker>;[^#]*)?$",
    re.IGNORECASE,
)
EXACT = re.compile(r"^==\s*(?P<version>\d+(?:\.[0-9A-Za-z]+)*)$")
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# Pinned, so two builds of one model get the same library; the version serving/tests ran
# scoring_metrics.py's multiprocess mode against. A model that names prometheus-client keeps its own pin.
PROMETHEUS_CLIENT = "prometheus-client==0.26.0"
# The payload log's writer (payload_log.py): block blobs in the model store, signed in with the
# revision's managed identity. Pinned like prometheus-client; a model that names either keeps its pin.
AZURE_STORAGE_BLOB = "azure-storage-blob==12.31.1"
AZURE_IDENTITY = "azure-identity==1.27.0"
# The metrics' export to Application Insights (scoring_telemetry.py), pinned the same way, with
# AZURE_IDENTITY above for its ManagedIdentityCredential; each is added only if no line names it.
# The exporter 1.0.0b58 requires opentelemetry-sdk ~=1.45.0 and azure-identity ~=1.17;
# mlflow-skinny 3.x accepts opentelemetry-sdk <3,>=1.9.0.
TELEMETRY = ("opentelemetry-sdk==1.45.2", "azure-monitor-opentelemetry-exporter==1.0.0b58")


class RequirementsError(Exception):
    """A requirements.txt the image cannot serve; the message says what to do."""


def _normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(lines):
    names = set()
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-"):
            match = NAME.match(text)
            if match:
                names.add(_normalized(match.group(1)))
    return names


def _pinned_major(spec):
    match = EXACT.match(spec.strip())
    if not match:
        return None, None
    version = match.group("version")
    return int(version.split(".", 1)[0]), version


def _only_2x(spec):
    """True when a version specifier admits only releases below 3 (== 2.x, ~= 2.x, < 3, <= 2.x)."""
    for clause in spec.split(","):
        match = re.match(r"^\s*(===|==|~=|<=|<)\s*(\d+)(?:\.(\d+))?", clause)
        if not match:
            continue
        op, first, second = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        if first < 3 or (op == "<" and first == 3 and second == 0):
            return True
    return False


def serving_requirements(text):
    """(new text, a one-line note of what changed or None)."""
    lines = text.splitlines()
    names = requirement_names(lines)
    out, note = [], None
    for line in lines:
        stripped = line.split("#", 1)[0].strip()
        match = REQUIREMENT.match(stripped) if stripped else None
        if not match:
            out.append(line)
            continue
        name = _normalized(match.group("name"))
        spec = match.group("spec") or ""
        marker = match.group("marker") or ""
        major, version = _pinned_major(spec)
        if name == "mlflow-skinny":
            if _only_2x(spec):
                raise RequirementsError(
                    f"requirements.txt pins {stripped}: MLflow 2.x skinny has no scoring server (no Flask, no "
                    "gunicorn), so the image cannot serve this model. Log the model with the full mlflow 2.x "
                    "package, or with mlflow(-skinny) 3.x, register a new version and deploy it."
                )
            out.append(line)
            continue
        if major is not None and major >= 3 and not match.group("extras"):
            out.append(f"mlflow-skinny=={version}{marker}")
            note = f"{stripped} -> mlflow-skinny=={version} (the scoring server needs no tracking server or UI)"
            continue
        out.append(line)
    if note and "pandas" not in names:
        out.append("pandas")
        note += " + pandas"
    if note and "prometheus-client" not in names:
        out.append(PROMETHEUS_CLIENT)
        note += f" + {PROMETHEUS_CLIENT} (the server's /metrics)"
    added = [pin for pin in (AZURE_STORAGE_BLOB, AZURE_IDENTITY) if _normalized(pin.split("==")[0]) not in names]
    if note and added:
        out.extend(added)
        note += f" + {' '.join(added)} (the payload log)"
    telemetry = [pin for pin in TELEMETRY if _normalized(pin.split("==", 1)[0]) not in names]
    if note and telemetry:
        out.extend(telemetry)
        note += f" + {' '.join(telemetry)} (metrics to Application Insights)"
    return "\n".join(out) + "\n", note


def main(argv):
    parser = argparse.ArgumentParser(
        description="Rewrite a model's requirements.txt for serving: mlflow==3.x becomes mlflow-skinny==3.x plus pandas, prometheus-client and the OpenTelemetry exporter.")
    parser.add_argument("requirements", help="the model's requirements.txt")
    parser.add_argument("output", help="where to write the serving requirements")
    args = parser.parse_args(argv)
    try:
        with open(args.requirements, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        print(f"serving_requirements: cannot read {args.requirements}: {err.strerror}", file=sys.stderr)
        return 1
    try:
        result, note = serving_requirements(text)
    except RequirementsError as err:
        print(f"serving_requirements: {err}", file=sys.stderr)
        return 1
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(result)
    if note:
        print(f"serving_requirements: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
