"""Registers a pickled model as a version in an MLflow model registry.

    python jobs/register_model.py --pickle PATH --model NAME [--sample PATH] [--alias ALIAS]
                                  [--registry databricks-uc|databricks|mlflow] [--schema CATALOG.SCHEMA]
                                  [--experiment PATH] [--timeout SECONDS]
                                  [--allow-module PACKAGE]... [--allow-global MODULE.ATTR]...

PATH is a local file, or an abfss:// URI when it runs as a Databricks job (read through Spark and
the Unity Catalog external location that covers it). The pickle must hold an object with a
`predict` method: a scikit-learn estimator is logged with the scikit-learn flavour, anything else
as a pyfunc model that calls its `predict`. A sample (CSV, JSON or Parquet) gives the signature and
the input example. The version's pip requirements pin the libraries that unpickled the object, at
the versions installed here. The last line printed is one JSON object:
{"name": ..., "version": ..., "model_uri": "models:/<name>/<version>"}; on failure it is
{"error": ...} and the exit status is 1.

Unpickling calls the functions a pickle names, so before anything is unpickled the pickle's
opcodes are read (pickletools) and every global it imports must be on an allow-list: classes and
functions of the model libraries (ALLOWED_MODULES, minus parts that read files or run code) and
plain data types (ALLOWED_GLOBALS). A model class of the user's own package, installed here, is
allowed with --allow-module PACKAGE or --allow-global MODULE.ATTR; what runs commands or code
(NEVER_MODULES, builtins other than data types) cannot be allowed. It is a filter, not a sandbox:
the README ("What the registration script lets a pickle import") says what it does not stop. With --registry databricks-uc a --sample is required
(Unity Catalog refuses a version without a signature). MLflow's HTTP retries are bounded
(HTTP_DEFAULTS) unless the environment sets them. Errors name what, where and what to do, without
a stack trace and without secrets.

Only the part after "MLflow" below needs MLflow; everything before it is plain Python.
"""
import _compat_pickle
import argparse
import csv
import importlib.metadata
import io
import json
import os
import pickle
import pickletools
import re
import sys
import tempfile
import time
import types

REGISTRIES = ("databricks-uc", "databricks", "mlflow")
SAMPLE_ROWS = 5


class RegistrationError(Exception):
    """A problem the user can fix; its message is shown as it is."""


# ---------------------------------------------------------------------------------------------
# Reading files: local paths, or abfss:// through Spark on Databricks.


def read_bytes(path, what, spark_reader=None):
    """The file's bytes. abfss:// URIs go through `spark_reader` (Spark's binaryFile source)."""
    if path.startswith("abfss://"):
        reader = spark_reader or _spark_binary_reader
        return reader(path, what)
    if re.match(r"^[a-z][a-z0-9+.-]*://", path):
        raise RegistrationError(f"{what} {path}: only local paths and abfss:// URIs can be read")
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise RegistrationError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise RegistrationError(f"{what} {path} is a folder, not a file") from None
    except PermissionError:
        raise RegistrationError(f"{what} {path} cannot be read (permission denied)") from None


def _spark_binary_reader(uri, what):
    # Serverless compute reaches cloud storage only through Unity Catalog external locations, and
    # Spark's binaryFile source reads a file's bytes that way (no local mount on serverless).
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RegistrationError(f"{what} {uri}: abfss:// paths are read with Spark, which only a Databricks job has here; pass a local path") from None
    spark = SparkSession.builder.getOrCreate()
    try:
        rows = spark.read.format("binaryFile").load(uri).select("content").collect()
    except Exception as err:  # Spark raises AnalysisException subclasses without a stable import path
        text = str(err)
        # Spark's PATH_NOT_FOUND error condition reads "Path does not exist: <path>." (error-conditions.json), as the text before 3.4 did.
        if "Path does not exist" in text:
            raise RegistrationError(f"{what} {uri} does not exist in the container: check the path, or upload it (npm run register -- --upload)") from None
        if "PERMISSION_DENIED" in text or "AuthorizationPermissionMismatch" in text or "does not have" in text:
            raise RegistrationError(f"{what} {uri} cannot be read by the job's identity: it needs READ FILES on the external location of that container") from None
        raise RegistrationError(f"{what} {uri} could not be read: {text.splitlines()[0] if text else type(err).__name__}") from None
    if not rows:
        raise RegistrationError(f"{what} {uri} does not exist in the container: check the path, or upload it (npm run register -- --upload)")
    return bytes(rows[0][0])


# ---------------------------------------------------------------------------------------------
# The pickle.

# Files people mistake for pickles, by their first bytes.
_NOT_PICKLES = (
    (b"PK\x03\x04", "a zip archive (a saved MLflow model, Keras model or wheel?)"),
    (b"\x1f\x8b", "a gzip file (joblib.dump(..., compress=...)?): save it uncompressed, with pickle.dump or joblib.dump without compress"),
    (b"\x78\x01", "a zlib-compressed file (joblib.dump(..., compress=...)?): save it uncompressed"),
    (b"\x78\x9c", "a zlib-compressed file (joblib.dump(..., compress=...)?): save it uncompressed"),
    (b"\x78\xda", "a zlib-compressed file (joblib.dump(..., compress=...)?): save it uncompressed"),
    (b"\x89HDF", "an HDF5 file (a Keras model?)"),
    (b"\x93NUMPY", "a NumPy array file (.npy)"),
    (b"PAR1", "a Parquet file"),
    (b"<", "text that looks like HTML or XML (an error page saved instead of the file?)"),
    (b"{", "JSON text"),
)


def check_pickle_bytes(data, path):
    """Refuses files that are not a pickle stream, before anything is unpickled."""
    if not data:
        raise RegistrationError(f"{path} is empty: it holds no pickled model")
    for magic, looks_like in _NOT_PICKLES:
        if data.startswith(magic):
            raise RegistrationError(f"{path} is not a pickle: it is {looks_like}")
    try:
        # Walks the opcodes without executing any of them.
        for _ in pickletools.genops(io.BytesIO(data)):
            pass
    except Exception:
        raise RegistrationError(f"{path} is not a pickle (or is truncated): Python's pickle format does not parse it") from None


# What a pickle may import. Unpickling calls whatever callables the pickle names (GLOBAL and
# STACK_GLOBAL opcodes, then REDUCE/NEWOBJ/BUILD on them), so the pickle's globals are read from
# its opcodes before anything is unpickled, and any global outside these lists is refused.
# This is a filter, not a sandbox: the README's "What the registration script lets a pickle import" says what it does not stop.

# Model libraries: these packages and their submodules (minus the denied parts below).
ALLOWED_MODULES = ("sklearn", "numpy", "scipy", "pandas", "xgboost", "lightgbm", "catboost")

# Single globals outside those packages that pickles of models and data use.
ALLOWED_GLOBALS = frozenset({
    # Data constructors only: never getattr, eval, exec, compile, __import__, open, type, ...
    *(f"builtins.{name}" for name in (
        "object", "bool", "int", "float", "complex", "str", "bytes", "bytearray", "list", "tuple",
        "dict", "set", "frozenset", "slice", "range", "Ellipsis", "NotImplemented",
    )),
    "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter",
    # How protocols 0-2 rebuild plain objects and bytes.
    "copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__", "_codecs.encode",
    "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta", "datetime.timezone",
    "decimal.Decimal",
    # Calls only what it is given, which is itself scanned (FunctionTransformer(func=partial(...))).
    "functools.partial",
    # pandas 3 keeps strings in Arrow arrays: a pickled DataFrame or Series rebuilds them with these.
    "pyarrow.lib._restore_array", "pyarrow.lib.py_buffer", "pyarrow.lib.type_for_alias",
    # Array wrappers joblib.dump leaves in a pickle stream.
    "joblib.numpy_pickle.NumpyArrayWrapper", "joblib.numpy_pickle.NDArrayWrapper",
})

# Parts of the allowed libraries that read or write files, download, or run code: refused unless
# named exactly with --allow-global. Submodule names, then attribute names.
DENIED_SUBMODULES = frozenset({
    "io", "testing", "_testing", "tests", "_testutils", "conftest", "f2py", "distutils", "ctypeslib",
    "npyio", "_npyio_impl", "_datasource", "format", "datasets", "externals", "computation", "_show_versions",
})
DENIED_NAMES = re.compile(
    r"^(load\w*|read_\w*|to_pickle|save\w*|fromfile|tofile|genfromtxt|fromregex|memmap|DataSource|"
    r"HDFStore|ExcelWriter|ExcelFile|eval|exec\w*|compile|system|popen|spawn\w*|run\w*|call\w*|fetch_\w*|import\w*)$"
)

# Never allowed, not even with --allow-global/--allow-module: modules (and their submodules)
# whose globals run commands or code, touch files or the network, or look attributes up by name.
NEVER_MODULES = frozenset({
    "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "_posixsubprocess", "pty", "sys", "builtins",
    "importlib", "runpy", "pkgutil", "zipimport", "site", "pickle", "_pickle", "pickletools", "marshal",
    "copyreg", "types", "shutil", "socket", "ssl", "select", "selectors", "ctypes", "_ctypes", "code",
    "codeop", "operator", "_operator", "inspect", "io", "_io", "pathlib", "tempfile", "glob",
    "fileinput", "multiprocessing", "concurrent", "threading", "_thread", "asyncio", "signal", "platform",
    "webbrowser", "urllib", "http", "ftplib", "smtplib", "telnetlib", "xmlrpc", "pdb", "bdb", "trace", "timeit",
    "cProfile", "profile", "gc", "mmap", "fcntl", "resource", "shlex", "sysconfig", "distutils", "setuptools",
    "pip", "cloudpickle", "dill", "joblib", "mlflow", "__main__",
    # Installed where the job runs, and able to act as its identity or evaluate text.
    "pyspark", "py4j", "databricks", "requests", "urllib3", "httpx", "aiohttp", "azure", "boto3", "botocore",
    "fsspec", "yaml", "numexpr", "IPython",
})


# Modules that other modules commonly hold as attributes (import os): refused as a global's name.
_MODULES_AS_ATTRIBUTES = frozenset({
    "os", "posix", "nt", "posixpath", "sys", "subprocess", "_posixsubprocess", "builtins", "importlib", "runpy",
    "pickle", "_pickle", "marshal", "shutil", "socket", "ctypes", "operator", "pty", "multiprocessing", "pathlib",
    "tempfile", "webbrowser", "urllib", "urllib3", "requests", "cloudpickle", "dill", "joblib", "mlflow", "pyspark",
})


NEVER_HINT = "builtins other than data types, os, subprocess, sys, importlib, pickle, operator and the like can never be allowed"


class GlobalPolicy:
    """Which globals a pickle may import: the allow-list above plus what the user added
    (`extra_globals` as "module.attr", `extra_modules` as packages with their submodules)."""

    def __init__(self, extra_globals=(), extra_modules=()):
        self.extra_globals = frozenset(extra_globals)
        self.extra_modules = tuple(extra_modules)
        for full in self.extra_globals:
            if "." not in full.strip(".") or self.never(*full.rsplit(".", 1)):
                raise RegistrationError(f"--allow-global {full}: give module.attribute of a model class or function; {NEVER_HINT}")
        for module in self.extra_modules:
            if not re.match(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$", module) or module.split(".")[0] in NEVER_MODULES:
                raise RegistrationError(f"--allow-module {module}: give an importable package of your own (such as fraud_features); {NEVER_HINT}")


    @staticmethod
    def never(module, name):
        """True when nothing can allow it: a module that runs code, or a dangerous builtin."""
        parts = module.split(".")
        if parts[0] in NEVER_MODULES:
            # The builtins and copyreg entries of ALLOWED_GLOBALS are the exceptions.
            return f"{module}.{name}" not in ALLOWED_GLOBALS
        # A path through such a module (protocol 4's dotted names: os.system), an attribute that
        # is one (GLOBAL pandas.io.common os; plain words such as numpy.select and numpy.trace are
        # functions, and a module found at load time is refused anyway), or a dunder attribute.
        parts = name.split(".")
        for part in parts:
            if (part in NEVER_MODULES and (len(parts) > 1 or part in _MODULES_AS_ATTRIBUTES)) or (part.startswith("__") and part.endswith("__") and len(part) > 4):
                return True
        return False

    @staticmethod
    def _within(module, packages):
        return any(module == p or module.startswith(p + ".") for p in packages)

    def refusal(self, module, name):
        """None when the global may be imported, else why not (a phrase)."""
        full = f"{module}.{name}"
        if self.never(module, name):
            return "never"
        if full in self.extra_globals or full in ALLOWED_GLOBALS:
            return None
        if "." in name:
            # Protocol 4 resolves dotted names attribute by attribute: only exact entries may use them.
            return "dotted"
        if self._within(module, ALLOWED_MODULES) or self._within(module, self.extra_modules):
            if set(module.split(".")[1:]) & DENIED_SUBMODULES or DENIED_NAMES.match(name):
                return "denied"
            return None
        return "unknown"


def _python2_name(module, name, protocol):
    # As pickle's own find_class does for protocols 0-2 (fix_imports): __builtin__ -> builtins, ...
    if protocol < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return module, name


_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_MARK = object()


def pickle_globals(data):
    """(globals, protocol): the (module, name, position) of every global the pickle imports, read
    from its opcodes without unpickling, and its protocol. STACK_GLOBAL takes its module and name
    from the stack, so the scan follows the stack and memo for strings; one whose strings it
    cannot follow gives (None, "stack", position), an EXT opcode (None, "extension", position).
    On the scan's stack, None stands for every value that is not one of the pickle's strings."""
    stack, memo, found, protocol = [], {}, [], 0
    for op, arg, pos in pickletools.genops(io.BytesIO(data)):
        name = op.name
        if name == "PROTO":
            protocol = arg
            continue
        if name in ("EXT1", "EXT2", "EXT4"):
            # copyreg's extension registry names globals by number: pickle.dump never writes these.
            found.append((None, "extension", pos))
        if name == "GLOBAL" or name == "INST":
            module, attr = arg.split(" ", 1)  # genops gives "module name"
            module, attr = _python2_name(module, attr, protocol)
            found.append((module, attr, pos))
        if name == "STACK_GLOBAL":
            attr = stack.pop() if stack else None
            module = stack.pop() if stack else None
            if isinstance(module, str) and isinstance(attr, str):
                found.append((*_python2_name(module, attr, protocol), pos))
            else:
                found.append((None, "stack", pos))
            stack.append(None)
            continue
        # Every other opcode: its stack effect, from pickletools' own description of it.
        if name in _STRING_OPS:
            stack.append(arg)  # bytes from STRING opcodes of protocols 0-2 are not names either: STACK_GLOBAL wants str
        elif name in _GET_OPS:
            stack.append(memo.get(arg))
        elif name in _PUT_OPS:
            if stack:
                memo[arg] = stack[-1]
        elif name == "MEMOIZE":
            if stack:
                memo[len(memo)] = stack[-1]
        elif name == "DUP":
            if stack:
                stack.append(stack[-1])
        elif name == "MARK":
            stack.append(_MARK)
        else:
            before = op.stack_before
            if pickletools.markobject in before:
                # Everything above the topmost mark, the mark, then what lies below it.
                while stack and stack[-1] is not _MARK:
                    stack.pop()
                if stack:
                    stack.pop()
                before = before[: before.index(pickletools.markobject)]
            for _ in before:
                if stack:
                    stack.pop()
            stack.extend(None for s in op.stack_after if s is not pickletools.markobject)
    return found, protocol


def _refusal_message(path, module, name, why):
    full = f"{module}.{name}"
    if module == "__main__":
        return (
            f"{path} refers to {name}, a class or function defined in the script or notebook that trained it (__main__), which does not exist here "
            "and is not allowed: move it into an importable package installed here and pass --allow-module PACKAGE, or wrap the model in a scikit-learn Pipeline"
        )
    if why == "never":
        return (
            f"{path} refused before unpickling: it imports {full}, which can run commands or code when the pickle is loaded and is never allowed. "
            "This pickle was made to run code, or by a tool that pickles code (cloudpickle, dill): do not register it; save the fitted model itself with pickle.dump"
        )
    if why == "denied":
        return (
            f"{path} refused before unpickling: it imports {full}, a part of {module.split('.')[0]} that reads or writes files or runs code (by its name), which model pickles do not need. "
            f"If you are sure it belongs in your model, pass --allow-global {full}"
        )
    if why == "dotted":
        return f"{path} refused before unpickling: it imports {full}, a nested attribute path: pass --allow-global {full} if it is a class of your own package"
    return (
        f"{path} refused before unpickling: it imports {full}, which is not on the allow-list of model libraries "
        f"({', '.join(ALLOWED_MODULES)} and plain data types). If it is a class of your own package installed here, "
        f"pass --allow-module {module.split('.')[0]} (or --allow-global {full})"
    )


def scan_pickle(data, path, policy):
    """Refuses a pickle that imports a global the policy does not allow, before it is unpickled."""
    found, protocol = pickle_globals(data)
    for module, name, pos in found:
        if module is None:
            what = "through copyreg's extension registry (an EXT opcode)" if name == "extension" else "whose module and name the scan cannot tell (a STACK_GLOBAL not built from plain strings)"
            raise RegistrationError(
                f"{path} refused before unpickling: at byte {pos} it imports a global {what}; pickle.dump does not write this: save the model again with pickle.dump"
            )
        why = policy.refusal(module, name)
        if why:
            raise RegistrationError(_refusal_message(path, module, name, why))
    return protocol


class _GuardedUnpickler(pickle.Unpickler):
    """An unpickler that imports only what the policy allows (again, after scan_pickle: belt and
    braces) and notes every module the pickle imports classes or functions from."""

    def __init__(self, stream, policy, protocol, path):
        super().__init__(stream)
        self.policy, self.protocol, self.path = policy, protocol, path
        self.modules = set()

    def find_class(self, module, name):
        checked = _python2_name(module, name, self.protocol)
        why = self.policy.refusal(*checked)
        if why:
            raise RegistrationError(_refusal_message(self.path, *checked, why))
        self.modules.add(checked[0])
        try:
            found = super().find_class(module, name)
        except AttributeError:
            # (__main__, the training notebook's own classes, is refused by the scan already.)
            raise RegistrationError(
                f"{self.path} refers to {checked[0]}.{checked[1]}, which the installed {checked[0].split('.')[0]} does not have: install the library version it was pickled with"
            ) from None
        # What the name resolved to: an allowed module may hold a module or re-export a function
        # of one that is never allowed (from os import system); neither is let through.
        if isinstance(found, types.ModuleType):
            raise RegistrationError(f"{self.path} refused while unpickling: {checked[0]}.{checked[1]} is a module, which model pickles never import by name")
        if isinstance(found, (type, types.FunctionType, types.BuiltinFunctionType)):
            origin = f"{found.__module__}.{found.__qualname__}"
            if origin.split(".")[0] in NEVER_MODULES and origin not in ALLOWED_GLOBALS:
                raise RegistrationError(
                    f"{self.path} refused while unpickling: {checked[0]}.{checked[1]} is {origin}, which can run commands or code and is never allowed: do not register this pickle"
                )
        return found


def load_pickle(data, path, policy=None):
    """The unpickled object and the modules it was built from. Its globals are checked against
    `policy` (the default allow-list when None) before anything is unpickled."""
    policy = policy or GlobalPolicy()
    check_pickle_bytes(data, path)
    protocol = scan_pickle(data, path, policy)
    unpickler = _GuardedUnpickler(io.BytesIO(data), policy, protocol, path)
    try:
        obj = unpickler.load()
    except RegistrationError:
        raise
    except ModuleNotFoundError as err:
        raise RegistrationError(
            f"{path} needs the Python module {err.name!r}, which is not installed here: install the library that provides it "
            "(for the job, add it to the job environment's dependencies)"
        ) from None
    except Exception as err:  # also an AttributeError of a class's __setstate__ (a library version the pickle was not made with)
        raise RegistrationError(f"{path} could not be unpickled: {type(err).__name__}: {_first_line(err)}".rstrip(": ")) from None
    check_model(obj, path)
    return obj, unpickler.modules


def check_model(obj, path):
    """A model is an instance with a callable `predict`; anything else is refused."""
    if isinstance(obj, type):
        raise RegistrationError(f"{path} holds the class {obj.__module__}.{obj.__qualname__}, not a fitted model: pickle an instance (the trained estimator)")
    if callable(getattr(obj, "predict", None)):
        return
    kind = f"{type(obj).__module__}.{type(obj).__qualname__}" if type(obj).__module__ != "builtins" else type(obj).__name__
    hint = ""
    if isinstance(obj, dict):
        inner = [str(k) for k, v in obj.items() if callable(getattr(v, "predict", None))]
        hint = f": its key {inner[0]!r} holds one; pickle that object on its own" if inner else f" (keys: {', '.join(map(str, list(obj)[:5]))})"
    elif isinstance(obj, (list, tuple)):
        inner = [i for i, v in enumerate(obj) if callable(getattr(v, "predict", None))]
        hint = f": item {inner[0]} holds one; pickle that object on its own" if inner else ""
    raise RegistrationError(f"{path} holds a {kind}, not a model: a model must have a predict method{hint}")


def is_sklearn_estimator(obj):
    """True for scikit-learn estimators and pipelines (and compatible ones built on sklearn.base),
    found from the class hierarchy so that sklearn is never imported to decide."""
    for cls in type(obj).__mro__:
        if cls.__name__ == "BaseEstimator" and cls.__module__.split(".")[0] == "sklearn":
            return True
    return False


def choose_flavour(obj):
    return "sklearn" if is_sklearn_estimator(obj) else "pyfunc"


def _top_level(module):
    return module.split(".")[0]


def pinned_requirements(modules, distributions=None, version_of=None):
    """`dist==version` for each installed distribution providing one of `modules` (top-level
    packages; standard library modules are skipped), sorted; unknown modules raise."""
    distributions = distributions if distributions is not None else importlib.metadata.packages_distributions()
    version_of = version_of or importlib.metadata.version
    stdlib = set(sys.stdlib_module_names) | {"__main__", "__builtin__"}  # (builtins is in stdlib_module_names)
    pins = set()
    unknown = []
    for top in sorted({_top_level(m) for m in modules}):
        if top in stdlib:
            continue
        dists = distributions.get(top)
        if not dists:
            unknown.append(top)
            continue
        for dist in dists:
            pins.add(f"{dist}=={version_of(dist)}")
    if unknown:
        raise RegistrationError(
            f"the model uses {', '.join(unknown)}, which no installed package provides (a local module?): "
            "the serving container could not import it; package it and install it here"
        )
    return sorted(pins, key=str.lower)


# ---------------------------------------------------------------------------------------------
# The sample.


def _convert_column(values):
    """CSV cells as ints, floats or text, the same for the whole column (empty cells are None)."""
    present = [v for v in values if v != ""]
    for kind in (int, float):
        try:
            converted = [kind(v) for v in present]
        except ValueError:
            continue
        it = iter(converted)
        return [None if v == "" else next(it) for v in values]
    return [None if v == "" else v for v in values]


def _importable(module):
    try:
        __import__(module)
        return True
    except ImportError:  # also a module set to None in sys.modules
        return False


def _first_line(err):
    text = str(err)
    return text.splitlines()[0] if text else ""


def read_sample(data, path, rows=SAMPLE_ROWS):
    """The first `rows` rows of a CSV (with a header), JSON or Parquet file as (columns, records)."""
    lower = path.lower()
    if lower.endswith(".csv"):
        text = data.decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text))
        try:
            header = next(reader)
        except StopIteration:
            raise RegistrationError(f"sample {path} is empty: it needs a header row and at least one row") from None
        body = [row for row in reader if row]
        if not body:
            raise RegistrationError(f"sample {path} has a header but no rows")
        for number, row in enumerate(body[:rows], start=2):
            if len(row) != len(header):
                raise RegistrationError(f"sample {path} line {number} has {len(row)} values, the header has {len(header)} columns")
        body = body[:rows]
        columns = [_convert_column([row[i] for row in body]) for i in range(len(header))]
        return header, [dict(zip(header, values)) for values in zip(*columns)]
    if lower.endswith(".json"):
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RegistrationError(f"sample {path} is not valid JSON: {err}") from None
        # The scoring server's request shapes are accepted too, so serving/sample-input.json works.
        if isinstance(doc, dict) and "dataframe_split" in doc:
            split = doc["dataframe_split"]
            records = [dict(zip(split["columns"], row)) for row in split.get("data", [])]
        elif isinstance(doc, dict) and ("dataframe_records" in doc or "instances" in doc):
            records = doc.get("dataframe_records", doc.get("instances"))
        else:
            records = doc
        if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
            raise RegistrationError(f"sample {path} must be a list of records ([{{column: value}}, ...]) or a scoring request (dataframe_split, dataframe_records)")
        records = records[:rows]
        columns = list(dict.fromkeys(k for r in records for k in r))
        return columns, records
    if lower.endswith(".parquet"):
        missing = [m for m in ("pandas", "pyarrow") if not _importable(m)]
        if missing:
            raise RegistrationError(
                f"sample {path} is a Parquet file, which needs {' and '.join(missing)}, not installed in this Python ({sys.executable}): "
                f"install {' and '.join(missing)} (pip install {' '.join(missing)}; the Databricks job's environment lists them), or give a CSV or JSON sample"
            )
        import pandas

        try:
            frame = pandas.read_parquet(io.BytesIO(data)).head(rows)  # pandas' engine is pyarrow when it is installed, as checked above
        except Exception as err:  # pyarrow's ArrowInvalid and friends: a file that is not Parquet
            raise RegistrationError(f"sample {path} could not be read as Parquet ({type(err).__name__}: {_first_line(err)}): write it with DataFrame.to_parquet, or give a CSV or JSON sample") from None
        if frame.empty:
            raise RegistrationError(f"sample {path} has no rows")
        return list(frame.columns), frame.to_dict(orient="records")
    raise RegistrationError(f"sample {path}: use a .csv (with a header row), .json or .parquet file")


# ---------------------------------------------------------------------------------------------
# Names and arguments.

_RESERVED_ALIAS = re.compile(r"^(latest|[vV]\d+)$", re.IGNORECASE)
_UC_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


def check_alias(alias):
    if alias is None or alias == "":
        return None
    if _RESERVED_ALIAS.match(alias):
        raise RegistrationError(f"alias {alias!r} is reserved by MLflow ('latest' and v<number> name versions): choose another, such as challenger")
    if not re.match(r"^[A-Za-z0-9_-]{1,255}$", alias):
        raise RegistrationError(f"alias {alias!r} is not allowed: use letters, digits, '_' or '-'")
    return alias


def full_model_name(registry, model, schema):
    """The registered model name. In Unity Catalog a short name goes into `schema`
    (catalog.schema), and a full name must be in it: the job registers into the dev schema only."""
    if registry != "databricks-uc":
        if not model.strip():
            raise RegistrationError("model name is empty")
        return model
    parts = model.split(".")
    if len(parts) == 1:
        if not schema:
            raise RegistrationError(f"model {model!r}: Unity Catalog names are catalog.schema.model; give the full name or --schema catalog.schema")
        parts = schema.split(".") + parts
    if len(parts) != 3 or not all(_UC_PART.match(p) for p in parts):
        raise RegistrationError(f"model {model!r} is not a Unity Catalog model name: use catalog.schema.model (letters, digits, '_' or '-') or just the model's name")
    name = ".".join(parts)
    if schema and ".".join(parts[:2]).lower() != schema.lower():
        raise RegistrationError(f"model {name} is outside {schema}, the schema this job registers into: give just the model's name, or {schema}.{parts[2]}")
    return name


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # A usage error ends like every other one: a JSON line and status 1.
        raise RegistrationError(f"{message} (see register_model.py --help)")


def _listed(values):
    """Repeatable flags, each possibly empty (the job passes --allow-module= when unset) or comma-separated."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def parse_args(argv):
    parser = _Parser(
        prog="register_model.py",
        description="Register a pickled model in an MLflow registry.",
        epilog=(
            "The pickle's globals are checked before it is unpickled: only classes and functions of "
            f"{', '.join(ALLOWED_MODULES)} and plain data types are allowed. A model class of your own package "
            "(installed here) needs --allow-module PACKAGE or --allow-global module.Class."
        ),
    )
    parser.add_argument("--pickle", required=True, help="the pickled model: a local path or abfss:// URI")
    parser.add_argument("--model", required=True, help="registered model name (in Unity Catalog a short name goes into --schema)")
    parser.add_argument("--sample", default="", help="CSV, JSON or Parquet input sample for the signature and input example")
    parser.add_argument("--alias", help="alias to set on the new version, such as challenger")
    parser.add_argument("--registry", choices=REGISTRIES, help="databricks-uc, databricks (workspace registry) or mlflow (MLFLOW_TRACKING_URI); default: MLFLOW_REGISTRY_URI, else mlflow")
    parser.add_argument("--schema", default="", help="Unity Catalog catalog.schema short model names go into")
    parser.add_argument("--experiment", default="", help="experiment the logging run goes into (Databricks needs a workspace path)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the version to be READY")
    parser.add_argument("--allow-global", action="append", metavar="MODULE.ATTR", help="also allow this class or function in the pickle (repeatable, or comma-separated)")
    parser.add_argument("--allow-module", action="append", metavar="PACKAGE", help="also allow every class and function of this package and its submodules (repeatable, or comma-separated)")
    args = parser.parse_args(argv)
    if args.registry is None:
        env = os.environ.get("MLFLOW_REGISTRY_URI")
        args.registry = env if env in REGISTRIES else "mlflow"
    args.alias = check_alias(args.alias)
    args.name = full_model_name(args.registry, args.model, args.schema)
    if args.registry == "databricks-uc" and not args.sample:
        # Unity Catalog refuses a model version without a signature (inputs and outputs).
        raise RegistrationError(
            f"model {args.name}: Unity Catalog requires a signature on every model version, and the signature comes from the sample: "
            "give --sample (a CSV, JSON or Parquet file of a few input rows)"
        )
    if args.timeout <= 0:
        raise RegistrationError(f"--timeout {args.timeout:g}: give a number of seconds above 0")
    args.policy = GlobalPolicy(_listed(args.allow_global), _listed(args.allow_module))
    return args


# ---------------------------------------------------------------------------------------------
# MLflow: everything below imports it lazily.


def wait_until_ready(client, name, version, timeout, sleep=time.sleep, now=time.monotonic, poll=2.0):
    """Polls the version until READY; FAILED_REGISTRATION and timeouts raise with the reason."""
    deadline = now() + timeout
    while True:
        mv = client.get_model_version(name, version)
        status = str(getattr(mv, "status", "READY"))
        status = status.split(".")[-1]  # UC clients may return an enum such as ModelVersionStatus.READY
        if status == "READY":
            return mv
        if status == "FAILED_REGISTRATION":
            reason = getattr(mv, "status_message", None) or "the registry gave no reason"
            raise RegistrationError(f"version {version} of {name} failed to register (FAILED_REGISTRATION): {reason}")
        if now() >= deadline:
            raise RegistrationError(f"version {version} of {name} is still {status} after {timeout:.0f} s: look at it in the registry, or run again with a longer --timeout")
        sleep(poll)


def pickled_model_class(python_model_base):
    """The pyfunc wrapper: loads the pickle from the logged artifacts and calls its predict.
    Built inside a function so cloudpickle stores the class by value with the model: serving
    needs neither this script nor its module name."""

    class PickledModel(python_model_base):
        def load_context(self, context):
            with open(context.artifacts["pickle"], "rb") as handle:
                self.model = pickle.load(handle)

        def predict(self, context, model_input, params=None):
            return self.model.predict(model_input)

    return PickledModel


# MLflow's HTTP client retries a failed request 7 times with a growing backoff, which makes a
# registry that is down cost minutes per call. These bound it; a value the user set is kept.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # MLflow reads it as an int
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",  # seconds per request (connect, or between bytes)
}

# Environment variables whose values must never appear in a message.
SECRET_ENV = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "DATABRICKS_TOKEN", "DATABRICKS_CLIENT_SECRET", "ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET")


def _import_mlflow():
    for key, value in HTTP_DEFAULTS.items():
        # Read by MLflow per request (mlflow.environment_variables), so setting them before import is enough.
        os.environ.setdefault(key, value)
    try:
        import mlflow
        import mlflow.tracking
    except ImportError:
        raise RegistrationError("MLflow is not installed here: pip install mlflow (the Databricks job installs it in its environment)") from None
    return mlflow


def without_credentials(uri):
    """The URI without user:password@ and without a query (tokens travel there too)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1", uri.split("?")[0].split("#")[0])


def scrub(text):
    """`text` without secrets: credentials in URLs, and the values of SECRET_ENV."""
    text = re.sub(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]*@", r"\1", text)
    for key in SECRET_ENV:
        value = os.environ.get(key)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def registry_location(registry, mlflow):
    if registry in ("databricks-uc", "databricks"):
        host = os.environ.get("DATABRICKS_HOST")
        return without_credentials(host) if host else "the Databricks workspace (DATABRICKS_HOST, or the workspace the job runs in)"
    return without_credentials(mlflow.get_tracking_uri())


_UNREACHABLE = ("Failed to establish a new connection", "Connection refused", "NameResolutionError", "Name or service not known",
                "timed out", "ConnectTimeout", "ReadTimeout", "Connection aborted", "RemoteDisconnected", "Max retries exceeded")


def registry_error(err, registry, mlflow):
    """A RegistrationError for an exception MLflow raised while talking to the registry."""
    where = registry_location(registry, mlflow)
    text = scrub(str(err))
    code = getattr(err, "error_code", None) or ""
    first = text.splitlines()[0] if text else type(err).__name__
    if code and first.startswith(f"{code}: "):  # RestException's text repeats its code
        first = first[len(code) + 2:]
    credentials = "DATABRICKS_TOKEN (or the job's identity)" if registry != "mlflow" else "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
    # MLflow maps a non-JSON 401/403 answer to these error codes (mlflow.utils.rest_utils); the
    # texts are MLflow's "failed with error code 401" and requests' "401 Client Error".
    if code == "UNAUTHENTICATED" or re.search(r"error code 401\b|\b401 Client Error", text):
        return RegistrationError(f"the registry at {where} refused the credentials (401 Unauthorized): check {credentials}")
    if code == "PERMISSION_DENIED" or re.search(r"error code 403\b|\b403 Client Error", text):
        return RegistrationError(f"the registry at {where} refused the request (PERMISSION_DENIED): {first}: the identity that runs this needs the right to create runs, models and versions there")
    if any(marker in text for marker in _UNREACHABLE):
        tried = f" ({os.environ.get('MLFLOW_HTTP_REQUEST_MAX_RETRIES', '?')} retries)"
        where_set = "MLFLOW_TRACKING_URI" if registry == "mlflow" else "DATABRICKS_HOST"
        return RegistrationError(
            f"the registry at {where} did not answer{tried}: check that it is running and reachable from here, and that {where_set} is right"
        )
    return RegistrationError(f"the registry at {where} answered {type(err).__name__}{f' {code}' if code else ''}: {first}")


def register(args, out=sys.stdout, spark_reader=None, sleep=time.sleep):
    # Everything that can be checked without the registry is checked first.
    data = read_bytes(args.pickle, "pickle", spark_reader)
    sample = read_sample(read_bytes(args.sample, "sample", spark_reader), args.sample) if args.sample else None
    model, modules = load_pickle(data, args.pickle, args.policy)
    flavour = choose_flavour(model)
    example = predictions = None
    if sample:
        _, records = sample
        import pandas

        example = pandas.DataFrame.from_records(records)  # columns in order of first appearance, as read_sample lists them
        try:
            predictions = model.predict(example)
        except Exception as err:
            raise RegistrationError(f"the model's predict failed on the sample {args.sample} ({type(err).__name__}: {_first_line(err)}): is it the right sample for this model?") from None

    mlflow = _import_mlflow()
    # The serving image installs exactly these, so MLflow itself is pinned too (on Databricks the
    # installed distribution may be mlflow-skinny; serving needs the full mlflow of that version).
    # (The model's own class is among `modules`: the unpickler imported it by name.)
    requirements = sorted({*pinned_requirements(modules), f"mlflow=={mlflow.__version__}"}, key=str.lower)
    signature = None
    if example is not None:
        from mlflow.models import infer_signature

        signature = infer_signature(example, predictions)

    if args.registry in ("databricks-uc", "databricks"):
        mlflow.set_tracking_uri("databricks")
        mlflow.set_registry_uri(args.registry)
    try:
        return _log_and_register(mlflow, args, model, data, flavour, requirements, signature, example, out, sleep)
    except RegistrationError:
        raise
    except Exception as err:  # MlflowException, or requests' errors from artifact uploads
        raise registry_error(err, args.registry, mlflow) from None


def _pin(distribution):
    return f"{distribution}=={importlib.metadata.version(distribution)}"


def _log_sklearn(mlflow_sklearn, model, common):
    """Logs with skops where this MLflow offers it (loading a skops file runs no code; MLflow 3's
    default outside Databricks) and else, or when skops does not trust one of the model's types,
    with cloudpickle (MLflow's default on Databricks). The serving image installs only the
    version's requirements, so the library that reads the file is pinned with it: MLflow adds it
    to its own inferred requirements, but not to explicit pip_requirements."""
    skops_format = getattr(mlflow_sklearn, "SERIALIZATION_FORMAT_SKOPS", None)
    cloudpickle_format = getattr(mlflow_sklearn, "SERIALIZATION_FORMAT_CLOUDPICKLE", "cloudpickle")
    if skops_format and _importable("skops.io"):
        try:
            return mlflow_sklearn.log_model(sk_model=model, serialization_format=skops_format, **{**common, "pip_requirements": sorted({*common["pip_requirements"], _pin("skops")}, key=str.lower)})
        except Exception as err:  # MLflow raises MlflowException("... untrusted types ...") after its load check
            if "untrusted" not in str(err).lower():
                raise
    return mlflow_sklearn.log_model(sk_model=model, serialization_format=cloudpickle_format, **{**common, "pip_requirements": sorted({*common["pip_requirements"], _pin("cloudpickle")}, key=str.lower)})


def logged_model_location(mlflow_version):
    """MLflow 3 names the logged model with `name`; MLflow 2 with `artifact_path`."""
    return {"name": "model"} if int(mlflow_version.split(".")[0]) >= 3 else {"artifact_path": "model"}


def _log_and_register(mlflow, args, model, data, flavour, requirements, signature, example, out, sleep):
    if args.experiment:
        mlflow.set_experiment(args.experiment)
    common = dict(signature=signature, input_example=example, pip_requirements=requirements, **logged_model_location(mlflow.__version__))
    with mlflow.start_run(run_name=f"register {args.name}"):
        if flavour == "sklearn":
            import mlflow.sklearn

            info = _log_sklearn(mlflow.sklearn, model, common)
        else:
            import mlflow.pyfunc

            with tempfile.TemporaryDirectory() as folder:
                local = os.path.join(folder, "model.pkl")
                with open(local, "wb") as handle:
                    handle.write(data)
                wrapper = pickled_model_class(mlflow.pyfunc.PythonModel)()
                info = mlflow.pyfunc.log_model(python_model=wrapper, artifacts={"pickle": local}, **common)
        model_uri = info.model_uri  # ModelInfo's, in MLflow 2 (runs:/...) and 3 (models:/m-...)

    registered = mlflow.register_model(model_uri, args.name, await_registration_for=0)
    version = str(registered.version)
    client = mlflow.tracking.MlflowClient()
    wait_until_ready(client, args.name, version, args.timeout, sleep=sleep)
    if args.alias:
        client.set_registered_model_alias(args.name, args.alias, version)
    result = {"name": args.name, "version": version, "model_uri": f"models:/{args.name}/{version}", "flavour": flavour}
    if args.alias:
        result["alias"] = args.alias
    print(json.dumps(result), file=out, flush=True)
    return result


def main(argv=None, out=sys.stdout):
    try:
        args = parse_args(argv)  # argparse reads sys.argv[1:] when argv is None
        register(args, out=out)
        return 0
    except RegistrationError as err:
        message = scrub(str(err))
    except Exception as err:  # anything else: its type and first line, without the stack
        message = scrub(f"{type(err).__name__}: {_first_line(err)}".rstrip(": "))
    print(json.dumps({"error": message}), file=out, flush=True)
    print(f"register_model: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
