"""Test-wide settings: offline Hugging Face libraries, a fixed seed, log levels restored after each test, and slow
tests opt-in (as in transformers: `RUN_SLOW=1`, or select them with `-m slow`).  The tiny configurations are in
tiny.py."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def pytest_collection_modifyitems(config, items):
    """Tests marked `slow` (multi-process, compile, transformers' common tests, full command runs) run only with
    RUN_SLOW=1 or when `-m` names the marker; the default run stays within minutes."""
    if _truthy(os.environ.get("RUN_SLOW")) or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow test: run with RUN_SLOW=1 (or -m slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _keep_logging_levels():
    """transformers' and datasets' verbosity as it was, afterwards: a module that silences transformers (or a
    command run in-process that sets its log level) must not hide the warnings a later test captures."""
    import datasets
    import transformers

    before = transformers.logging.get_verbosity(), datasets.logging.get_verbosity()
    yield
    transformers.logging.set_verbosity(before[0])
    datasets.logging.set_verbosity(before[1])


_module_logging = pytest.fixture(scope="module", autouse=True)(_keep_logging_levels)
_test_logging = pytest.fixture(autouse=True)(_keep_logging_levels)
