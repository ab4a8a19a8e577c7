"""Run one of transformers' example scripts as `python <script> <args>` would, in an interpreter where
`import tobigs_transformer` fails: the folder under test must work through `trust_remote_code` alone.

Usage: python run_example.py REPORT_JSON SCRIPT [script arguments...]

A finder at the front of `sys.meta_path` refuses the package and records every attempt; at exit REPORT_JSON gets
`{"blocked_imports": [...], "tobigs_modules": [...]}` (both empty when the package was never imported).
"""

import atexit
import importlib.abc
import json
import runpy
import sys
from pathlib import Path

BLOCKED = "tobigs_transformer"


class BlockPackage(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.attempts: list[str] = []

    def find_spec(self, fullname, path=None, target=None):
        if fullname == BLOCKED or fullname.startswith(BLOCKED + "."):
            self.attempts.append(fullname)
            raise ImportError(f"{fullname} is blocked: the example script must not need the installed package")
        return None


def main() -> None:
    report, script, *args = sys.argv[1:]
    blocker = BlockPackage()
    sys.meta_path.insert(0, blocker)

    def write_report() -> None:
        loaded = sorted(name for name in sys.modules if name == BLOCKED or name.startswith(BLOCKED + "."))
        Path(report).write_text(json.dumps({"blocked_imports": blocker.attempts, "tobigs_modules": loaded}))

    atexit.register(write_report)
    # As `python script.py`: the script's folder first on sys.path (run_qa.py imports trainer_qa / utils_qa from it).
    # This file's folder is not kept on sys.path: only what the script itself would see.
    sys.path[0] = str(Path(script).resolve().parent)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
