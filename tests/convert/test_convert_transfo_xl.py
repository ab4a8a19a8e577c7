"""Transformer-XL checkpoints from files (convert/transfo_xl.py): the authors' MemTransformerLM state dicts and
transformers 4.x TransfoXLLMHeadModel folders, against the reference outputs recorded by
scripts/make_transfo_xl_fixtures.py (tests/fixtures/transfo_xl/versions.json says which code made them); no network,
no external code."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tobigs_transformer import TobigsConfig, TobigsForCausalLM
from tobigs_transformer.convert import (
    ConversionError,
    convert_transfo_xl_checkpoint,
    export_transfo_xl,
    hf4_initial_mems,
    mems_from_transfo_xl,
    mems_to_transfo_xl,
)
from tobigs_transformer.convert.cli import main
from tobigs_transformer.convert.transfo_xl import tied_pairs
from tobigs_transformer.convert.transfo_xl_hparams import authors_hparams, hf4_hparams

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transfo_xl"
# Every fixture the script writes; the adaptive ones have clusters (cutoffs [20, 40]), narrower tail tables (div_val 2)
# or a projected embedding (d_embed 8 < d_model 16), with tied tables and projections.
FIXTURE_NAMES = [
    "authors_post_ln", "authors_untied_clamp", "hf4_post_ln_untie_r", "hf4_shared_r_clamp_untied", "authors_pre_ln",
    "hf4_pre_ln", "authors_same_length", "hf4_same_length", "authors_d_embed", "authors_adaptive_div1",
    "authors_adaptive_div2", "hf4_adaptive_div2",
]
ADAPTIVE = [name for name in FIXTURE_NAMES if "adaptive" in name or "d_embed" in name]


def _source(name: str) -> str:
    return "hf4" if name.startswith("hf4") else "authors"


def _convert(name: str) -> TobigsForCausalLM:
    folder = FIXTURES / name
    if _source(name) == "hf4":
        return convert_transfo_xl_checkpoint(folder)
    return convert_transfo_xl_checkpoint(folder / "model.pt", folder / "hparams.json")


def _their_weights(name: str) -> dict:
    folder = FIXTURES / name
    for file in ("model.safetensors", "pytorch_model.bin", "model.pt"):
        if (folder / file).is_file():
            return load_file(folder / file) if file.endswith("safetensors") else torch.load(folder / file)
    raise AssertionError(f"no weights in {folder}")


def test_every_fixture_is_listed():
    assert sorted(FIXTURE_NAMES) == sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
    assert sum(f.stat().st_size for f in FIXTURES.rglob("*") if f.is_file()) < 1_000_000


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_three_segments_with_memory_match_the_reference(name):
    """Log-probabilities of every token after each of 3 segments (batch 2) fed with the previous memory, and the
    memory itself, within 1e-5 of the authors' code / transformers 4.46."""
    model = _convert(name)
    expected = torch.load(FIXTURES / name / "expected.pt")
    source = _source(name)
    # transformers 4.x starts every stream with mem_len zero vectors of memory; the authors' code with none.
    mems = hf4_initial_mems(model, 2) if source == "hf4" else None
    with torch.no_grad():
        for segment, log_probs, their_mems in zip(expected["input_ids"], expected["log_probs"], expected["mems"]):
            out = model(segment, mems=mems)
            mems = out.mems
            assert (torch.log_softmax(out.logits, -1) - log_probs).abs().max() < 1e-5
            for ours, theirs in zip(mems, mems_from_transfo_xl(their_mems, source), strict=True):
                assert (ours - theirs).abs().max() < 1e-5


@pytest.mark.parametrize("name", ["authors_post_ln", "hf4_shared_r_clamp_untied"])
def test_memories_convert_both_ways(name):
    """Their memory after segment 1, converted, lets our model continue with segment 2 as theirs did; our memory,
    converted back, is theirs (the authors' extra last tensor, never read, is zeros)."""
    model, expected, source = _convert(name), torch.load(FIXTURES / name / "expected.pt"), _source(name)
    with torch.no_grad():
        out = model(expected["input_ids"][1], mems=mems_from_transfo_xl(expected["mems"][0], source))
    assert (torch.log_softmax(out.logits, -1) - expected["log_probs"][1]).abs().max() < 1e-5
    back = mems_to_transfo_xl(out.mems, source)
    theirs = expected["mems"][1]
    assert len(back) == len(theirs) == model.config.decoder_layers + (source == "authors")
    for ours, reference in zip(back[:model.config.decoder_layers], theirs):
        assert ours.shape == reference.shape and (ours - reference).abs().max() < 1e-5
    if source == "authors":
        assert back[-1].shape == theirs[-1].shape and not back[-1].any()
    assert mems_from_transfo_xl([torch.empty(0)] * 3, "authors") is None  # their init_mems: empty tensors


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_export_gives_back_their_checkpoint(name, tmp_path):
    """ours -> their format: the same tensors under the same names (plus the tied twin a safetensors file drops),
    and the written folder converts back to the same model."""
    model, source = _convert(name), _source(name)
    state, config = export_transfo_xl(model, tmp_path / "out", target=source)
    theirs = _their_weights(name)
    hparams = hf4_hparams(FIXTURES / name / "config.json") if source == "hf4" else authors_hparams(
        FIXTURES / name / "hparams.json")
    body = "transformer." if source == "hf4" else ""
    # A safetensors file keeps one tensor of each tied pair; the export writes both names.
    assert set(theirs) <= set(state) and set(state) - set(theirs) <= {s for _, s in tied_pairs(hparams, body)}
    for key, tensor in theirs.items():
        assert torch.equal(state[key], tensor), key
    if source == "hf4":
        assert hf4_hparams(config) == hf4_hparams(FIXTURES / name / "config.json")
        again = convert_transfo_xl_checkpoint(tmp_path / "out")
    else:
        again = convert_transfo_xl_checkpoint(tmp_path / "out" / "model.pt", tmp_path / "out" / "hparams.json")
    ours, back = model.state_dict(), again.state_dict()
    assert ours.keys() == back.keys() and all(torch.equal(ours[k], back[k]) for k in ours)


def test_an_exported_model_of_our_own_round_trips(tmp_path):
    """A fresh model of ours (random u, v and LM-head bias) -> 4.x folder -> ours: identical weights."""
    config = TobigsConfig.from_preset("transformer-xl", vocab_size=50, d_model=16, decoder_layers=2,
                                      decoder_attention_heads=4, decoder_ffn_dim=24, mem_len=4, clamp_len=7,
                                      attention_bias=False, lm_head_bias=True)
    model = TobigsForCausalLM(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
    export_transfo_xl(model, tmp_path / "xl")
    back = convert_transfo_xl_checkpoint(tmp_path / "xl")
    assert back.config.clamp_len == 7 and back.config.mem_len == 4
    ours, again = model.state_dict(), back.state_dict()
    assert all(torch.equal(ours[key], again[key]) for key in ours)


@pytest.mark.parametrize("target", ["hf4", "authors"])
@pytest.mark.parametrize("adaptive", [dict(cutoffs=[10, 30], div_val=2, tie_projs=[False, True, False]),
                                      dict(cutoffs=[25], div_val=1, embedding_size=8, tie_projs=[True, True]),
                                      dict(div_val=1, embedding_size=8, tie_word_embeddings=False)])
def test_an_adaptive_model_of_our_own_round_trips(adaptive, target, tmp_path):
    """Adaptive input and softmax (random weights, clusters in an order the head distinguishes) -> their format ->
    ours: the same weights and the same log-probabilities."""
    config = TobigsConfig.from_preset("transformer-xl", vocab_size=50, d_model=16, decoder_layers=2,
                                      decoder_attention_heads=4, decoder_ffn_dim=24, mem_len=4, adaptive_input=True,
                                      adaptive_softmax=True, **adaptive)
    model = TobigsForCausalLM(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
    export_transfo_xl(model, tmp_path / "xl", target=target)
    back = (convert_transfo_xl_checkpoint(tmp_path / "xl") if target == "hf4"
            else convert_transfo_xl_checkpoint(tmp_path / "xl" / "model.pt", tmp_path / "xl" / "hparams.json"))
    ours, again = model.state_dict(), back.state_dict()
    assert ours.keys() == again.keys() and all(torch.equal(ours[key], again[key]) for key in ours)
    ids = torch.randint(0, 50, (2, 6))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, back(ids).logits)


@pytest.mark.parametrize("overrides, target, message", [
    (dict(attention_bias=True), "hf4", "attention_bias=True"),
    (dict(untie_r=True), "authors", "untie_r=True"),
    (dict(normalize_before=True), "hf4", "normalize_before=True with a final LayerNorm"),
    (dict(activation_function="gelu"), "authors", "activation_function='gelu'"),
    (dict(adaptive_softmax=True, cutoffs=[20], tie_word_embeddings=False), "hf4",
     "adaptive_input=False with adaptive_softmax=True"),
])
def test_export_names_what_the_format_cannot_hold(overrides, target, message):
    config = TobigsConfig.from_preset("transformer-xl", vocab_size=50, d_model=16, decoder_layers=1,
                                      decoder_attention_heads=2, decoder_ffn_dim=24,
                                      **dict(dict(attention_bias=False, lm_head_bias=True), **overrides))
    with pytest.raises(ConversionError, match=message):
        export_transfo_xl(TobigsForCausalLM(config), target=target)


def test_lm_head_without_bias_exports_a_zero_softmax_bias():
    config = TobigsConfig.from_preset("transformer-xl", vocab_size=50, d_model=16, decoder_layers=1,
                                      decoder_attention_heads=2, decoder_ffn_dim=24, untie_r=False,
                                      attention_bias=False, lm_head_bias=False)
    state, _ = export_transfo_xl(TobigsForCausalLM(config), target="authors")
    assert state["crit.out_layers.0.bias"].shape == (50,) and not state["crit.out_layers.0.bias"].any()


# --- files and values that cannot be read -------------------------------------------------------------------------


def _copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def _edit_json(path: Path, **changes) -> None:
    values = json.loads(path.read_text())
    values.update(changes)
    path.write_text(json.dumps(values))


def test_missing_files_are_named(tmp_path):
    folder = _copy("hf4_post_ln_untie_r", tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="has no weight file .model.safetensors or pytorch_model.bin"):
        convert_transfo_xl_checkpoint(folder)
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        convert_transfo_xl_checkpoint(folder)
    with pytest.raises(FileNotFoundError, match="nope.pt does not exist"):
        convert_transfo_xl_checkpoint(tmp_path / "nope.pt", FIXTURES / "authors_post_ln" / "hparams.json")
    with pytest.raises(ConversionError, match="pass its hyper-parameters with hparams="):
        convert_transfo_xl_checkpoint(FIXTURES / "authors_post_ln" / "model.pt")


def test_malformed_files_are_named(tmp_path):
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConversionError, match="broken.pt is not a readable weight file"):
        convert_transfo_xl_checkpoint(tmp_path / "broken.pt", FIXTURES / "authors_post_ln" / "hparams.json")
    (tmp_path / "hparams.json").write_text("{n_layer: 2")
    with pytest.raises(ConversionError, match="hparams.json is not valid JSON"):
        convert_transfo_xl_checkpoint(FIXTURES / "authors_post_ln" / "model.pt", tmp_path / "hparams.json")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")  # torch.save(model), as the authors' train.py does
    with pytest.raises(ConversionError, match="module.pt holds a pickled module"):
        convert_transfo_xl_checkpoint(tmp_path / "module.pt", FIXTURES / "authors_post_ln" / "hparams.json")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ConversionError, match="list.pt does not hold a state dict"):
        convert_transfo_xl_checkpoint(tmp_path / "list.pt", FIXTURES / "authors_post_ln" / "hparams.json")


def test_unknown_config_keys_are_refused(tmp_path):
    folder = _copy("hf4_post_ln_untie_r", tmp_path)
    _edit_json(folder / "config.json", n_expert=4)
    with pytest.raises(ConversionError, match="transfo-xl config.json has keys .* not know: n_expert"):
        convert_transfo_xl_checkpoint(folder)
    hparams = json.loads((FIXTURES / "authors_post_ln" / "hparams.json").read_text())
    with pytest.raises(ConversionError, match="does not know: rotary"):
        convert_transfo_xl_checkpoint(FIXTURES / "authors_post_ln" / "model.pt", dict(hparams, rotary=True))
    with pytest.raises(ConversionError, match="lack d_inner"):
        convert_transfo_xl_checkpoint(FIXTURES / "authors_post_ln" / "model.pt",
                                      {k: v for k, v in hparams.items() if k != "d_inner"})


def test_vocabulary_and_shape_mismatches_are_named(tmp_path):
    folder = _copy("hf4_post_ln_untie_r", tmp_path)
    _edit_json(folder / "config.json", vocab_size=61)
    with pytest.raises(ConversionError, match="has 60 rows but the config says a vocabulary of 61"):
        convert_transfo_xl_checkpoint(folder)
    hparams = json.loads((FIXTURES / "authors_post_ln" / "hparams.json").read_text())
    with pytest.raises(ConversionError, match=r"layers.0.feed_forward.fc1.weight \(32, 16\) vs \(64, 16\)"):
        convert_transfo_xl_checkpoint(FIXTURES / "authors_post_ln" / "model.pt", dict(hparams, d_inner=64))
    with pytest.raises(ConversionError, match="n_head . d_head = 2 . 4 = 8 != d_model=16"):
        convert_transfo_xl_checkpoint(FIXTURES / "authors_post_ln" / "model.pt", dict(hparams, d_head=4))


def test_weights_that_contradict_the_config_are_named():
    hparams = json.loads((FIXTURES / "authors_post_ln" / "hparams.json").read_text())
    state = torch.load(FIXTURES / "authors_post_ln" / "model.pt")
    with pytest.raises(ConversionError, match="source tensors no rule uses .1.: extra.weight"):
        convert_transfo_xl_checkpoint(dict(state, **{"extra.weight": torch.zeros(1)}), hparams)
    untied = dict(state, **{"crit.out_layers.0.weight": state["crit.out_layers.0.weight"] + 1})
    with pytest.raises(ConversionError, match="word_emb.emb_layers.0.weight and crit.out_layers.0.weight differ"):
        convert_transfo_xl_checkpoint(untied, hparams)
    with pytest.raises(ConversionError, match="lacks .*layers.0.dec_attn.r_w_bias"):
        convert_transfo_xl_checkpoint(state, dict(hparams, untie_r=True))
    with pytest.raises(ConversionError, match="pos_emb.inv_freq is not 1 / 10000"):
        convert_transfo_xl_checkpoint(dict(state, **{"pos_emb.inv_freq": state["pos_emb.inv_freq"] * 2}), hparams)
    with pytest.raises(ConversionError, match="attn_type=1: only attn_type=0"):
        convert_transfo_xl_checkpoint(state, dict(hparams, attn_type=1))


# --- tobigs convert -------------------------------------------------------------------------------------------------


def test_command_line_imports_and_exports(tmp_path, capsys):
    authors = FIXTURES / "authors_post_ln"
    assert main(["--from-transfo-xl", str(authors / "model.pt"), "--hparams", str(authors / "hparams.json"),
                 "--output_dir", str(tmp_path / "ours")]) == 0
    assert "-> TobigsForCausalLM" in capsys.readouterr().out
    assert main(["--to-hf", str(tmp_path / "ours"), "--target", "transfo-xl-authors",
                 "--output_dir", str(tmp_path / "back")]) == 0
    back = torch.load(tmp_path / "back" / "model.pt")
    assert all(torch.equal(back[k], v) for k, v in torch.load(authors / "model.pt").items())

    assert main(["--from-hf", str(FIXTURES / "hf4_post_ln_untie_r"), "--output_dir", str(tmp_path / "ours4")]) == 0
    assert main(["--to-hf", str(tmp_path / "ours4"), "--target", "transfo-xl", "--output_dir",
                 str(tmp_path / "back4")]) == 0
    assert json.loads((tmp_path / "back4" / "config.json").read_text())["model_type"] == "transfo-xl"
    capsys.readouterr()

    assert main(["--from-hf", str(FIXTURES / "hf4_adaptive_div2"), "--output_dir", str(tmp_path / "x")]) == 0
    assert TobigsConfig.from_pretrained(tmp_path / "x").cutoffs == [20, 40]
    capsys.readouterr()
    hparams = FIXTURES / "authors_post_ln" / "hparams.json"
    (tmp_path / "sampled.json").write_text(json.dumps(dict(json.loads(hparams.read_text()), sample_softmax=8)))
    assert main(["--from-transfo-xl", str(FIXTURES / "authors_post_ln" / "model.pt"), "--hparams",
                 str(tmp_path / "sampled.json"), "--output_dir", str(tmp_path / "w")]) == 2
    assert "sample_softmax=8" in capsys.readouterr().err and not (tmp_path / "w").exists()
    assert main(["--to-hf", str(tmp_path / "ours4"), "--target", "transfo-xl-authors",
                 "--output_dir", str(tmp_path / "y")]) == 2
    assert "untie_r=True" in capsys.readouterr().err and not (tmp_path / "y").exists()
    with pytest.raises(SystemExit):  # a usage error, as argparse's
        main(["--from-transfo-xl", str(authors / "model.pt"), "--output_dir", str(tmp_path / "z")])
    assert "--hparams JSON go together" in capsys.readouterr().err
