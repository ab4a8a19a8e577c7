"""Write the Transformer-XL reference fixtures of tests/convert/test_convert_transfo_xl.py (run once; the tests only read
the files).

Two sources, each run with the Python that has it:

    # (a) the authors' PyTorch code (kimiyoung/transformer-xl, pytorch/, commit 44781ed), in the main environment
    /work/main/.venv/bin/python scripts/make_transfo_xl_fixtures.py authors --authors-code /path/to/transformer-xl/pytorch
    # (b) transformers 4.x TransfoXLLMHeadModel (removed in v5), in a separate environment:
    #     python3 -m venv venv-tf4 && venv-tf4/bin/pip install torch==2.13.0 "transformers==4.46.*"
    venv-tf4/bin/python scripts/make_transfo_xl_fixtures.py hf4

Each fixture is a folder under tests/fixtures/transfo_xl/ holding a small random-weight model (d_model 16, 2 layers,
vocabulary 60) as the source wrote it, and `expected.pt`: three segments of batch 2 (`input_ids`, (3, 2, 5)), the
source's log-probabilities of every token at every position of each segment with the memory of the earlier
segments (`log_probs`, 3 x (2, 5, 60), batch-major), and the memory after each segment in the source's own layout
(`mems`, time-major: the authors' n_layer + 1 tensors, transformers 4.x's n_layer). `versions.json` records what
produced them.

The authors' code predates two torch changes, bridged here without editing it: `torch.version.cuda` is None on a CPU
build (their proj_adaptive_softmax.py parses it at import), and `masked_fill` refuses the uint8 masks `.byte()` makes
(torch >= 1.2 wants bool): `.byte()` is made to return the bool mask the code means while the fixtures are built.
Likewise transformers 4.46's TransfoXL calls `Tensor.type_as(dtype=...)`, which torch 2.13 refuses; the script gives
it the cast it means (`.to(dtype)`, of an integer range: exact).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "transfo_xl"
VOCAB, SEGMENTS, BATCH, LENGTH = 60, 3, 2, 5
AUTHORS_COMMIT = "44781ed"

# Authors' MemTransformerLM hyper-parameters (their argument names). mem_len 6 < 2 segments of 5: the memory is cut.
AUTHORS_BASE = dict(n_token=VOCAB, n_layer=2, n_head=2, d_model=16, d_head=8, d_inner=32, dropout=0.0, dropatt=0.0,
                    tie_weight=True, d_embed=16, div_val=1, tie_projs=[False], pre_lnorm=False, tgt_len=LENGTH,
                    ext_len=0, mem_len=6, cutoffs=[], same_length=False, attn_type=0, clamp_len=-1, sample_softmax=-1)
AUTHORS_FIXTURES = {
    "authors_post_ln": {},
    "authors_untied_clamp": dict(tie_weight=False, clamp_len=3),
    "authors_pre_ln": dict(pre_lnorm=True),
    "authors_same_length": dict(same_length=True),
    "authors_d_embed": dict(d_embed=8, tie_projs=[True]),
    "authors_adaptive_div1": dict(cutoffs=[20, 40], tie_projs=[False, True, True]),
    "authors_adaptive_div2": dict(cutoffs=[20, 40], div_val=2, tie_projs=[False, True, True]),
}

# transformers 4.x TransfoXLConfig arguments.
HF4_BASE = dict(vocab_size=VOCAB, cutoffs=[], d_model=16, d_embed=16, n_head=2, d_head=8, d_inner=32, div_val=1,
                pre_lnorm=False, n_layer=2, mem_len=6, clamp_len=-1, same_length=False, proj_share_all_but_first=True,
                attn_type=0, sample_softmax=-1, adaptive=True, dropout=0.0, dropatt=0.0, untie_r=True,
                layer_norm_epsilon=1e-5, eos_token_id=0, tie_word_embeddings=True)
HF4_FIXTURES = {  # name: (config overrides, safetensors?)
    "hf4_post_ln_untie_r": ({}, True),
    "hf4_shared_r_clamp_untied": (dict(untie_r=False, clamp_len=3, tie_word_embeddings=False), False),
    "hf4_pre_ln": (dict(pre_lnorm=True), True),
    "hf4_same_length": (dict(same_length=True), True),
    "hf4_adaptive_div2": (dict(cutoffs=[20, 40], div_val=2), True),
}


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Every parameter random (LayerNorm gains around 1), so that no mapping error can hide behind a zero or a one."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if "layer_norm" in name and name.endswith("weight"):
                parameter.copy_(1.0 + 0.1 * noise)
            else:
                parameter.copy_(0.3 * noise)


def segments(seed: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, (SEGMENTS, BATCH, LENGTH), generator=torch.Generator().manual_seed(seed))


def make_authors(code: Path) -> dict:
    if torch.version.cuda is None:
        torch.version.cuda = "10.0"  # proj_adaptive_softmax.py parses it at import; a CPU build has None
    torch.Tensor.byte = torch.Tensor.bool  # their masks are uint8; masked_fill now wants bool
    sys.path[:0] = [str(code), str(code / "utils")]
    from mem_transformer import MemTransformerLM

    for index, (name, overrides) in enumerate(AUTHORS_FIXTURES.items()):
        hparams = dict(AUTHORS_BASE, **overrides)
        model = MemTransformerLM(**hparams).eval()
        randomize(model, seed=index)
        ids = segments(seed=100 + index)
        log_probs, all_mems, mems = [], [], tuple()
        with torch.no_grad():
            for segment in ids:
                data = segment.t().contiguous()  # their inputs are time-major (T, B)
                hidden, mems = model._forward(data, mems=list(mems) or model.init_mems())
                # The criterion gives -log p(target) only: ask it for every token of the vocabulary at every position.
                flat = hidden.reshape(-1, hidden.shape[-1])  # (T * B, d_model)
                targets = torch.arange(VOCAB).repeat_interleave(flat.shape[0])
                nll = model.crit(flat.repeat(VOCAB, 1), targets, keep_order=True)  # (V * T * B,)
                scores = -nll.view(VOCAB, LENGTH, BATCH).permute(2, 1, 0)  # (B, T, V)
                log_probs.append(scores.contiguous())
                all_mems.append([m.clone() for m in mems])
        folder = ROOT / name
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), folder / "model.pt")
        (folder / "hparams.json").write_text(json.dumps(hparams, indent=1) + "\n")
        torch.save({"input_ids": ids, "log_probs": log_probs, "mems": all_mems}, folder / "expected.pt")
        print(f"{name}: {sum(p.numel() for p in model.state_dict().values())} numbers")
    return {"authors_code": f"kimiyoung/transformer-xl pytorch/ at {AUTHORS_COMMIT}", "authors_torch": torch.__version__}


def make_hf4() -> dict:
    import transformers
    from transformers.models.deprecated.transfo_xl import TransfoXLConfig, TransfoXLLMHeadModel

    type_as = torch.Tensor.type_as
    # modeling_transfo_xl.py calls `arange(...).type_as(dtype=word_emb.dtype)`, which torch 2.13 refuses (type_as
    # takes a tensor): give it the cast it means.
    torch.Tensor.type_as = lambda self, other=None, dtype=None: type_as(self, other) if other is not None \
        else self.to(dtype)

    for index, (name, (overrides, safetensors)) in enumerate(HF4_FIXTURES.items()):
        config = TransfoXLConfig(**dict(HF4_BASE, **overrides))
        torch.manual_seed(index)
        model = TransfoXLLMHeadModel(config).eval()
        randomize(model, seed=50 + index)
        model.tie_weights()
        ids = segments(seed=150 + index)
        log_probs, all_mems, mems = [], [], None
        with torch.no_grad():
            for segment in ids:
                out = model(segment, mems=mems)
                mems = out.mems
                log_probs.append(out.prediction_scores.clone())  # (B, T, V) log-probabilities
                all_mems.append([m.clone() for m in mems])
        folder = ROOT / name
        model.save_pretrained(folder, safe_serialization=safetensors)
        torch.save({"input_ids": ids, "log_probs": log_probs, "mems": all_mems}, folder / "expected.pt")
        print(f"{name}: saved ({'safetensors' if safetensors else 'pytorch_model.bin'})")
    return {"transformers": transformers.__version__, "hf4_torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=["authors", "hf4"])
    parser.add_argument("--authors-code", type=Path, default=Path("/work/ref/pytorch"),
                        help="the pytorch/ folder of kimiyoung/transformer-xl at commit 44781ed")
    args = parser.parse_args()
    ROOT.mkdir(parents=True, exist_ok=True)
    versions_file = ROOT / "versions.json"
    versions = json.loads(versions_file.read_text()) if versions_file.exists() else {}
    versions.update(make_authors(args.authors_code) if args.source == "authors" else make_hf4())
    versions_file.write_text(json.dumps(versions, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
