"""`npm run mutation -- <file.py>` runs mutmut through this: mutmut reads its settings only from
setup.cfg or pyproject.toml in the working folder, which this project has neither of, so the
settings scripts/mutation.ts chose (JSON in MUTATION_MUTMUT_CONFIG) are handed to mutmut's own
config reader (mutmut.configuration._config_reader, mutmut 3.8, pinned in requirements.txt)."""
import json
import os
import sys

import mutmut.configuration as configuration

SETTINGS = json.loads(os.environ["MUTATION_MUTMUT_CONFIG"])


def _settings_reader():
    return lambda key, default: SETTINGS.get(key, default)


configuration._config_reader = _settings_reader

from mutmut.__main__ import cli  # noqa: E402  (after the reader is in place)

if __name__ == "__main__":
    sys.argv[0] = "mutmut"
    cli()
