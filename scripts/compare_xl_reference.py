"""Our Transformer-XL against the authors' PyTorch code, on the same random weights.

The reference is `MemTransformerLM` of kimiyoung/transformer-xl, pytorch/mem_transformer.py at commit 44781ed
(attn_type=0: the relative attention of §3.3; div_val=1 and cutoffs=[]: one embedding and a full softmax, tied). It is
read from a local copy (`--reference /path/to/transformer-xl/pytorch`, nothing is downloaded; the tests never import
it) with two compatibility edits that change no arithmetic:
  - its attention masks are built with `.byte()`; current PyTorch's `masked_fill` takes bool masks only (`.bool()`);
  - utils/proj_adaptive_softmax.py reads the CUDA version at import (`torch.version.cuda` is None on a CPU build).

For every configuration: random weights in the authors' model (normal, std 0.5 for the vectors that start
uninitialised or at 1, so that every term matters), copied into ours (`map_weights`), then 3 segments of a batch of 2
with memory carried over, fp32, eval mode; the table gives max |Δ| of the logits and of the per-token NLL over all
segments. The training-mode rows run both models in training mode with dropout 0.1 (dropatt 0, as the released
configuration), a batch of 1 and the same seed before each segment: every dropout mask (embeddings, R, each
sub-layer's output, after the FFN's ReLU, the final hidden state) is then drawn in the same order over the same
memory layout (theirs is time-major, ours batch-major: with one row the two orders agree), so the outputs must be
equal too. Per-layer u, v (`untie_r=True`) do not exist in the PyTorch code (it has one r_w_bias, r_r_bias pair;
the authors' TensorFlow code has `untie_r`): there each of its layers is wrapped to pass its own pair instead.

    PYTHONPATH=src python scripts/compare_xl_reference.py --reference /work/ref/pytorch [--json out.json]
"""

import argparse
import json
import sys
import types
from pathlib import Path

import torch
from torch import nn

from tobigs_transformer import TobigsConfig, TobigsForCausalLM

REFERENCE_COMMIT = "44781ed"  # kimiyoung/transformer-xl, the commit of the copy this script was written against
VOCAB, D_MODEL, HEADS, LAYERS, D_INNER, BATCH, SEGMENTS = 50, 32, 4, 3, 48, 2, 3


def load_reference(root: Path) -> types.ModuleType:
    """mem_transformer.py as a module, with the two compatibility edits of the module docstring."""
    softmax_source = (root / "utils" / "proj_adaptive_softmax.py").read_text()
    softmax_source = softmax_source.replace("int(torch.version.cuda.split('.')[0])", "9").replace(
        "int(torch.version.cuda.split('.')[1])", "0")
    for name, source in (("proj_adaptive_softmax", softmax_source),
                         ("log_uniform_sampler", (root / "utils" / "log_uniform_sampler.py").read_text())):
        module = types.ModuleType(name)
        exec(compile(source, str(root / "utils" / f"{name}.py"), "exec"), module.__dict__)
        sys.modules[name] = module
    source = (root / "mem_transformer.py").read_text().replace(".byte()", ".bool()")
    module = types.ModuleType("mem_transformer")
    exec(compile(source, str(root / "mem_transformer.py"), "exec"), module.__dict__)
    return module


class PerLayerBiases(nn.Module):
    """One of the authors' layers with its own u (r_w_bias) and v (r_r_bias): the TensorFlow code's untie_r."""

    def __init__(self, layer: nn.Module, n_head: int, d_head: int):
        super().__init__()
        self.layer = layer
        self.r_w_bias = nn.Parameter(torch.zeros(n_head, d_head))
        self.r_r_bias = nn.Parameter(torch.zeros(n_head, d_head))

    def forward(self, dec_inp, r, r_w_bias, r_r_bias, dec_attn_mask=None, mems=None):
        return self.layer(dec_inp, r, self.r_w_bias, self.r_r_bias, dec_attn_mask=dec_attn_mask, mems=mems)


def reference_model(reference, *, pre_lnorm: bool, untie_r: bool, tgt_len: int, mem_len: int, clamp_len: int | None,
                    same_length: bool, seed: int, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    model = reference.MemTransformerLM(
        VOCAB, LAYERS, HEADS, D_MODEL, D_MODEL // HEADS, D_INNER, dropout=dropout, dropatt=0.0, tie_weight=True,
        d_embed=D_MODEL, div_val=1, tie_projs=[False], pre_lnorm=pre_lnorm, tgt_len=tgt_len, ext_len=0,
        mem_len=mem_len, cutoffs=[], same_length=same_length, attn_type=0,
        clamp_len=-1 if clamp_len is None else clamp_len,
    )
    if untie_r:
        model.layers = nn.ModuleList(PerLayerBiases(layer, HEADS, D_MODEL // HEADS) for layer in model.layers)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            # Weights at the scale of an initialised model; biases, u, v and LayerNorm gains far from 0 / 1.
            std = 0.5 if parameter.dim() < 2 or "bias" in name else 0.1
            parameter.normal_(0.0, std)
            if "layer_norm.weight" in name:
                parameter.add_(1.0)
    return model.eval()


def our_config(*, pre_lnorm: bool, untie_r: bool, mem_len: int, clamp_len: int | None, same_length: bool,
               attn: str, final_layer_norm: bool | None = None, dropout: float = 0.0, **overrides) -> TobigsConfig:
    final_layer_norm = not pre_lnorm if final_layer_norm is None else final_layer_norm
    settings = {"final_layer_norm": final_layer_norm, "same_length": same_length, **overrides}
    return TobigsConfig.from_preset(
        "transformer-xl", vocab_size=VOCAB, d_model=D_MODEL, decoder_layers=LAYERS, decoder_attention_heads=HEADS,
        decoder_ffn_dim=D_INNER, dropout=dropout, activation_dropout=dropout, mem_len=mem_len, clamp_len=clamp_len,
        untie_r=untie_r, normalize_before=pre_lnorm, attention_bias=False, lm_head_bias=True, layer_norm_eps=1e-5,
        attn_implementation=attn, **settings,
    )


def map_weights(theirs: nn.Module, ours: TobigsForCausalLM, untie_r: bool) -> None:
    """Copy the authors' parameters into ours (names: theirs -> ours)."""
    decoder = ours.model.decoder
    with torch.no_grad():
        decoder.embeddings.word_embeddings.weight.copy_(theirs.word_emb.emb_layers[0].weight)  # tied to the head
        ours.lm_head.bias.copy_(theirs.crit.out_layers[0].bias)
        if not untie_r:
            decoder.global_bias.content_bias.copy_(theirs.r_w_bias)  # u
            decoder.global_bias.position_bias.copy_(theirs.r_r_bias)  # v
        for their_layer, layer in zip(theirs.layers, decoder.layers):
            if untie_r:
                layer.self_attn.global_bias.content_bias.copy_(their_layer.r_w_bias)
                layer.self_attn.global_bias.position_bias.copy_(their_layer.r_r_bias)
                their_layer = their_layer.layer
            attention, ffn = their_layer.dec_attn, their_layer.pos_ff
            layer.self_attn.qkv_proj.weight.copy_(attention.qkv_net.weight)  # [q; k; v], heads within each
            layer.self_attn.out_proj.weight.copy_(attention.o_net.weight)
            layer.self_attn.position_proj.weight.copy_(attention.r_net.weight)  # W_{k,R}
            layer.self_attn_layer_norm.load_state_dict(attention.layer_norm.state_dict())
            layer.feed_forward.fc1.load_state_dict(ffn.CoreNet[0].state_dict())
            layer.feed_forward.fc2.load_state_dict(ffn.CoreNet[3].state_dict())
            layer.ffn_layer_norm.load_state_dict(ffn.layer_norm.state_dict())


def reference_logits(theirs: nn.Module, tokens: torch.Tensor, mems):
    """Logits (B, T, V) and the new memory of one segment; tokens (B, T). The authors' tensors are (T, B, ...)."""
    hidden, new_mems = theirs._forward(tokens.t().contiguous(), mems=mems)
    head = theirs.crit.out_layers[0]
    return nn.functional.linear(hidden, head.weight, head.bias).transpose(0, 1), new_mems


def nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])[..., 0]


def compare(reference, *, pre_lnorm=False, untie_r=False, tgt_len=8, mem_len=8, clamp_len=None, same_length=False,
            attn="sdpa", seed=0, dropout=0.0, batch=BATCH, ours_differ: dict | None = None,
            ours_without: str | None = None) -> dict:
    """max |Δ| of logits and NLL; `ours_differ`: config values of ours that deliberately differ (the controls);
    dropout > 0: both in training mode, the same seed before each segment; `ours_without`: a dropout module of our
    decoder turned off (a control)."""
    theirs = reference_model(reference, pre_lnorm=pre_lnorm, untie_r=untie_r, tgt_len=tgt_len, mem_len=mem_len,
                             clamp_len=clamp_len, same_length=same_length, seed=seed, dropout=dropout)
    settings = {"pre_lnorm": pre_lnorm, "untie_r": untie_r, "mem_len": mem_len, "clamp_len": clamp_len,
                "same_length": same_length, "attn": attn, "dropout": dropout}
    settings.update(ours_differ or {})
    ours = TobigsForCausalLM(our_config(**settings)).eval()
    map_weights(theirs, ours, untie_r)
    if dropout:
        theirs.train(), ours.train()
    if ours_without:
        getattr(ours.model.decoder, ours_without).p = 0.0
    stream = torch.randint(0, VOCAB, (batch, SEGMENTS * tgt_len + 1), generator=torch.Generator().manual_seed(seed))
    their_mems, our_mems = theirs.init_mems(), None
    logits_delta = nll_delta = 0.0
    # With gradients on in training mode, as a training step runs (our residual dropout takes another path without).
    with torch.enable_grad() if dropout else torch.no_grad():
        for segment in range(SEGMENTS):
            inputs = stream[:, segment * tgt_len:(segment + 1) * tgt_len]
            targets = stream[:, segment * tgt_len + 1:(segment + 1) * tgt_len + 1]
            torch.manual_seed(1000 + segment)
            expected, their_mems = reference_logits(theirs, inputs, their_mems)
            torch.manual_seed(1000 + segment)
            out = ours(inputs, mems=our_mems)
            our_mems = tuple(m.detach() for m in out.mems)
            expected, their_mems = expected.detach(), [m.detach() for m in their_mems]
            out.logits = out.logits.detach()
            logits_delta = max(logits_delta, (out.logits - expected).abs().max().item())
            nll_delta = max(nll_delta, (nll(out.logits, targets) - nll(expected, targets)).abs().max().item())
            # The authors' loss of the same segment, as their forward returns it, equals the NLL of their logits.
    return {"logits": logits_delta, "nll": nll_delta}


CONFIGURATIONS = [
    # (label, settings)
    ("post-LN, shared u,v", {}),
    ("post-LN, per-layer u,v", {"untie_r": True}),
    ("pre-LN (final_layer_norm=False), shared u,v", {"pre_lnorm": True}),
    ("pre-LN (final_layer_norm=False), per-layer u,v", {"pre_lnorm": True, "untie_r": True}),
    ("post-LN, clamp_len=3", {"clamp_len": 3}),
    ("pre-LN, clamp_len=3", {"pre_lnorm": True, "clamp_len": 3}),
    ("post-LN, mem_len 4 < segment 8", {"mem_len": 4}),
    ("post-LN, mem_len 16 > segment 8", {"mem_len": 16}),
    ("post-LN, same_length, mem_len 4 < segment 8", {"same_length": True, "mem_len": 4}),
    ("post-LN, same_length, mem_len = segment 8", {"same_length": True}),
    ("post-LN, same_length, mem_len 16 > segment 8", {"same_length": True, "mem_len": 16}),
    ("pre-LN, same_length, clamp_len=5, per-layer u,v", {"same_length": True, "pre_lnorm": True, "clamp_len": 5,
                                                          "untie_r": True}),
    ("training mode, dropout 0.1, post-LN", {"dropout": 0.1, "batch": 1}),
    ("training mode, dropout 0.1, pre-LN (final_layer_norm=False)", {"dropout": 0.1, "batch": 1,
                                                                     "pre_lnorm": True}),
    ("training mode, dropout 0.1, post-LN, same_length, mem_len 16", {"dropout": 0.1, "batch": 1,
                                                                      "same_length": True,
                                                                      "mem_len": 16}),
]

# Controls: the same comparison with one of our values deliberately different from the authors' model; each must show
# a large difference, or the table above could not fail.
CONTROLS = [
    ("pre-LN, ours with the final LayerNorm (GPT-2 style)", {"pre_lnorm": True,
                                                             "ours_differ": {"final_layer_norm": True}}),
    ("same_length in theirs, not in ours (mem_len 4)", {"same_length": True, "mem_len": 4,
                                                       "ours_differ": {"same_length": False}}),
    ("clamp_len=3 in theirs, none in ours", {"clamp_len": 3, "ours_differ": {"clamp_len": None}}),
    ("training mode, ours without the dropout on R", {"dropout": 0.1, "batch": 1,
                                                      "ours_without": "position_dropout"}),
    ("training mode, ours without the dropout on the output", {"dropout": 0.1, "batch": 1,
                                                               "ours_without": "output_dropout"}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=Path, default=Path("/work/ref/pytorch"),
                        help="the pytorch/ folder of a copy of kimiyoung/transformer-xl")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    torch.set_default_dtype(torch.float32)
    reference = load_reference(args.reference)
    rows = []
    for label, settings in CONFIGURATIONS:
        for attn in ("sdpa", "eager"):
            deltas = compare(reference, attn=attn, **settings)
            rows.append({"configuration": label, "attn_implementation": attn, **deltas})
    print(f"reference: kimiyoung/transformer-xl pytorch/mem_transformer.py @ {REFERENCE_COMMIT}; "
          f"torch {torch.__version__}; fp32; {SEGMENTS} segments of 8 tokens, batch {BATCH}, d_model {D_MODEL}, "
          f"{LAYERS} layers, {HEADS} heads, vocabulary {VOCAB}")
    print("\n| configuration | attn_implementation | max abs Δ logits | max abs Δ NLL |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['configuration']} | {row['attn_implementation']} | {row['logits']:.1e} | {row['nll']:.1e} |")
    worst = max(max(row["logits"], row["nll"]) for row in rows)
    print(f"\nworst: {worst:.1e}\n\ncontrols (must be large):\n\n| control | max abs Δ logits |\n|---|---|")
    controls = []
    for label, settings in CONTROLS:
        deltas = compare(reference, **settings)
        controls.append({"control": label, **deltas})
        print(f"| {label} | {deltas['logits']:.1e} |")
    if args.json:
        result = {"reference_commit": REFERENCE_COMMIT, "rows": rows, "controls": controls}
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0 if worst < 1e-5 and min(c["logits"] for c in controls) > 1e-3 else 1)


if __name__ == "__main__":
    main()
