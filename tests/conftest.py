"""Test-wide settings: offline Hugging Face libraries and a fixed seed. The tiny configurations are in tiny.py."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
