"""model/checks.py: the forwards' input checks, called at the top of each forward, outside the lecture's boxes."""

import ast
import inspect

import pytest
import torch
from tiny import tiny_config
from transformers.cache_utils import DynamicCache

from tobigs_transformer.model import attention, checks, embeddings, heads, layers, stacks


def test_decoder_inputs_report_cached_and_memory_lengths():
    config = tiny_config("transformer-xl", mem_len=3)
    cache = DynamicCache(config=config)
    cache.update(torch.zeros(2, 4, 5, 8), torch.zeros(2, 4, 5, 8), 0)  # 5 cached tokens
    mems = tuple(torch.zeros(2, 3, config.d_model) for _ in range(config.decoder_layers))
    seen = checks.check_decoder_inputs(config, torch.ones(2, 4, dtype=torch.long), None, torch.ones(2, 9), None,
                                       None, cache, mems, torch.float32)
    assert seen == checks.DecoderInputs(2, 4, 5, 3, "")


def test_decoder_mask_counts_the_cached_tokens():
    config = tiny_config("gpt2")
    cache = DynamicCache(config=config)
    cache.update(torch.zeros(1, 4, 5, 8), torch.zeros(1, 4, 5, 8), 0)
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 4\) but cached \+ new tokens needs \(1, 9\)"):
        checks.check_decoder_inputs(config, torch.ones(1, 4, dtype=torch.long), None, torch.ones(1, 4), None, None,
                                    cache, None, torch.float32)


def test_encoder_decoder_names_its_decoder_inputs_and_needs_the_encoder_first():
    config = tiny_config("bart-base")
    with pytest.raises(ValueError, match="pass exactly one of decoder_input_ids or decoder_inputs_embeds"):
        checks.check_decoder_inputs(config, None, None, None, None, None, None, None, torch.float32)
    # The missing encoder output is named before the (also wrong) mask shape.
    with pytest.raises(ValueError, match="needs encoder_hidden_states to attend to"):
        checks.check_decoder_inputs(config, torch.ones(1, 4, dtype=torch.long), None, torch.ones(1, 7), None, None,
                                    None, None, torch.float32)


@pytest.mark.parametrize("module", [attention, layers, stacks, embeddings, heads], ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_lecture_boxes_raise_nothing_themselves(module):
    """The lecture's boxes (attention, layers, stacks, embeddings, heads) do no input checking inline: checks.py does."""
    tree = ast.parse(inspect.getsource(module))
    assert not [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Raise)]
