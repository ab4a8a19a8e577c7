"""Exact weight conversion between tobigs_transformer and transformers' GPT-1, GPT-2, CTRL, BERT, RoBERTa, ALBERT,
ELECTRA, BART, Marian and Pegasus classes.

    from tobigs_transformer.convert import convert_from_hf, convert_to_hf
    ours = convert_from_hf(GPT2LMHeadModel.from_pretrained("path/to/gpt2"))   # -> TobigsForCausalLM
    back = convert_to_hf(ours)                                                  # -> GPT2LMHeadModel

Transformer-XL checkpoints come from files (transformers v5 has no TransfoXL class): `convert_transfo_xl_checkpoint`
reads a transformers 4.x TransfoXLLMHeadModel folder or the authors' MemTransformerLM state dict plus its
hyper-parameters, `export_transfo_xl` writes either format back (transfo_xl.py, transfo_xl_hparams.py).

One key map per family (gpt2.py, openai_gpt.py, ctrl.py, bert.py, roberta.py, albert.py, electra.py, bart.py,
marian.py, pegasus.py), applied by the strict engine in engine.py (rules.py, ops.py, families.py); the
command line is `tobigs-convert --from-hf DIR --out DIR` / `--to-hf DIR --out DIR` (cli.py).
This sub-package is tooling: it imports the model, the model never imports it.
"""

from .api import (
    FAMILIES,
    convert_config_from_hf,
    convert_config_to_hf,
    convert_from_hf,
    convert_to_hf,
    infer_family,
    supported_classes,
)
from .errors import ConversionError
from .transfo_xl import (
    convert_transfo_xl_checkpoint,
    export_transfo_xl,
    hf4_initial_mems,
    mems_from_transfo_xl,
    mems_to_transfo_xl,
)
from .transfo_xl_hparams import TransfoXLHParams

__all__ = [
    "FAMILIES",
    "ConversionError",
    "TransfoXLHParams",
    "convert_config_from_hf",
    "convert_config_to_hf",
    "convert_from_hf",
    "convert_to_hf",
    "convert_transfo_xl_checkpoint",
    "export_transfo_xl",
    "hf4_initial_mems",
    "infer_family",
    "mems_from_transfo_xl",
    "mems_to_transfo_xl",
    "supported_classes",
]
