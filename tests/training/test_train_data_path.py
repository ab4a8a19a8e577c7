"""The causal-LM data path: line breaks survive, documents end with EOS, every position of a block is trained, every
target is counted once in eval_loss, no pad token is demanded for full blocks (and one that is needed is asked for
before tokenizing), and config overrides / tokenizer ids go through TobigsConfig's own rules."""

import json
import math
import os

import pytest
import torch
from fixtures.helpers import COMMON, TINY, char_tokenizer, path, read_metrics, tokenizers

from tobigs_transformer import TobigsConfig, TobigsForCausalLM
from tobigs_transformer.training import ArgumentError, run_classification, run_clm
from tobigs_transformer.training.arguments import ModelArguments, TobigsTrainingArguments, parse_args
from tobigs_transformer.training.clm_data import DataCollatorForShiftedBlocks, group_shifted_blocks
from tobigs_transformer.training.model_config import build_config

TEXT = "ab c\nd\n\nef g\nhi\n"


def _blocks(tmp_path, tokenizer_dir, train_file, *extra):
    _, data_args, _ = parse_args(
        (ModelArguments, run_clm.CLMDataArguments, TobigsTrainingArguments),
        ["--train_file", train_file, "--validation_split_percentage", "0", "--output_dir", str(tmp_path / "o"),
         "--use_cpu", *extra])
    from transformers import AutoTokenizer

    return run_clm.clm_blocks(data_args, AutoTokenizer.from_pretrained(tokenizer_dir))["train"]


def _stream(blocks) -> list[int]:
    """The token stream the blocks cover: the first input, then every target in order."""
    rows = list(blocks)
    return [rows[0]["input_ids"][0]] + [t for row in rows for t in row["shift_labels"]]


def test_plain_text_keeps_line_breaks_and_ends_the_file_with_eos(tmp_path):
    tok = char_tokenizer(TEXT, str(tmp_path / "tok"))
    (tmp_path / "t.txt").write_text(TEXT, encoding="utf-8")
    blocks = _blocks(tmp_path, str(tmp_path / "tok"), str(tmp_path / "t.txt"), "--block_size", "4")
    stream = _stream(blocks)
    full = tok(TEXT, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert len(stream) == 1 + ((len(full) - 1) // 4) * 4  # only the tail that fills no block is dropped
    assert stream == full[: len(stream)]
    assert len(stream) == len(full)  # 17 tokens = 4 blocks of 4 targets + the first input: nothing dropped here
    assert tok.decode(stream) == TEXT + "<eos>"  # every line break, the blank line's too, and the EOS at the end
    for row in blocks:  # targets are the inputs moved by one: blocks overlap by exactly one token
        assert row["input_ids"][1:] == row["shift_labels"][:-1]


def test_keep_linebreaks_false_makes_every_line_a_document(tmp_path):
    tok = char_tokenizer(TEXT, str(tmp_path / "tok"))
    (tmp_path / "t.txt").write_text(TEXT, encoding="utf-8")
    blocks = _blocks(tmp_path, str(tmp_path / "tok"), str(tmp_path / "t.txt"), "--block_size", "2",
                     "--keep_linebreaks", "false")
    text = tok.decode(_stream(blocks))
    assert "\n" not in text and text.startswith("ab c<eos>d<eos>ef g<eos>")


def test_json_rows_are_documents_separated_by_eos(tmp_path):
    char_tokenizer("abcdef", str(tmp_path / "tok"))
    rows = [{"text": "abc"}, {"text": ""}, {"text": "de"}, {"text": "f"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    blocks = _blocks(tmp_path, str(tmp_path / "tok"), str(tmp_path / "d.jsonl"), "--block_size", "4")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert tok.decode(_stream(blocks)) == "abc<eos>de<eos>f<eos>"  # 9 tokens: 2 blocks of 4 targets, nothing lost


def test_group_shifted_blocks_covers_the_stream_once():
    out = group_shifted_blocks({"input_ids": [[1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]}, block_size=4)
    assert out == {"input_ids": [[1, 2, 3, 4], [5, 6, 7, 8]], "shift_labels": [[2, 3, 4, 5], [6, 7, 8, 9]]}
    assert group_shifted_blocks({"input_ids": [[1, 2, 3]]}, 8) == {"input_ids": [[1, 2]], "shift_labels": [[2, 3]]}
    assert group_shifted_blocks({"input_ids": [[1]]}, 8) == {"input_ids": [], "shift_labels": []}
    with pytest.raises(ValueError, match="block_size must be a positive int, got 0"):
        group_shifted_blocks({"input_ids": [[1]]}, 0)


def test_collator_needs_no_pad_token_and_masks_a_ragged_tail():
    batch = DataCollatorForShiftedBlocks(pad_token_id=None)(
        [{"input_ids": [5, 6, 7], "shift_labels": [6, 7, 8]}, {"input_ids": [9], "shift_labels": [4]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [9, 0, 0]]
    assert batch["shift_labels"].tolist() == [[6, 7, 8], [4, -100, -100]]
    assert batch["labels"].tolist() == [[5, 6, 7], [9, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_every_position_of_a_full_block_gets_a_gradient(tmp_path):
    """block_size == max_position_embeddings: the last row of the learned position table is trained too."""
    text = open(path("en_validation.txt"), encoding="utf-8").read()
    tok = char_tokenizer(text, str(tmp_path / "tok"))
    n = 16
    blocks = _blocks(tmp_path, str(tmp_path / "tok"), path("en_validation.txt"), "--block_size", str(n))
    config = TobigsConfig.from_preset("gpt2", vocab_size=len(tok), d_model=16, decoder_layers=1,
                                      decoder_attention_heads=2, decoder_ffn_dim=32, max_position_embeddings=n,
                                      pad_token_id=None, bos_token_id=None, eos_token_id=tok.eos_token_id, dropout=0.0)
    torch.manual_seed(0)
    model = TobigsForCausalLM(config)
    batch = DataCollatorForShiftedBlocks(tok)([blocks[0]])
    assert batch["input_ids"].shape == (1, n)
    model(**batch).loss.backward()
    table = model.model.decoder.embeddings.position_embeddings.weight
    assert table.shape[0] == n
    assert (table.grad.abs().sum(-1) > 0).all(), table.grad.abs().sum(-1)


def test_eval_loss_counts_every_target_once_and_metrics_align(tmp_path):
    out = str(tmp_path / "clm")
    metrics = run_clm.main(["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name", tokenizers()["gpt"],
                            "--train_file", path("en_train.txt"), "--validation_file", path("en_validation.txt"),
                            "--block_size", "16", "--output_dir", out, "--max_steps", "2", "--do_train", "--do_eval",
                            *COMMON])
    model = TobigsForCausalLM.from_pretrained(out).eval()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    lines = open(path("en_validation.txt"), encoding="utf-8").read().splitlines(keepends=True)
    stream = [t for line in lines for t in tok(line, add_special_tokens=False)["input_ids"]] + [tok.eos_token_id]
    n_blocks = (len(stream) - 1) // 16
    assert n_blocks % 4 != 0  # the last eval batch is smaller: the average must still weigh every target once
    ids = torch.tensor(stream[: n_blocks * 16]).view(n_blocks, 16)
    targets = torch.tensor(stream[1 : n_blocks * 16 + 1]).view(n_blocks, 16)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    total = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                              reduction="sum")
    assert metrics["eval_loss"] == pytest.approx(total.item() / targets.numel(), abs=1e-5)
    assert metrics["eval_perplexity"] == pytest.approx(math.exp(metrics["eval_loss"]), rel=1e-6)
    accuracy = (logits.argmax(-1) == targets).float().mean().item()
    assert metrics["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert read_metrics(out)["metrics"]["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_no_pad_token_is_needed_for_full_blocks(tmp_path):
    text = open(path("en_train.txt"), encoding="utf-8").read()
    tok = char_tokenizer(text, str(tmp_path / "tok"))
    assert tok.pad_token is None
    out = str(tmp_path / "clm")
    metrics = run_clm.main(["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name", str(tmp_path / "tok"),
                            "--train_file", path("en_train.txt"), "--validation_file", path("en_validation.txt"),
                            "--block_size", "32", "--output_dir", out, "--max_steps", "2", "--do_train", "--do_eval",
                            *COMMON])
    assert math.isfinite(metrics["eval_loss"])
    assert json.load(open(os.path.join(out, "config.json")))["pad_token_id"] is None


def test_a_needed_pad_token_is_asked_for_before_tokenizing(tmp_path, monkeypatch):
    char_tokenizer("abcdefghijklmnopqrstuvwxyz .,", str(tmp_path / "tok"))

    def no_data(*args, **kwargs):
        raise AssertionError("the data was read before the pad token was checked")

    from tobigs_transformer.training import recipe

    monkeypatch.setattr(recipe, "load_raw_datasets", no_data)  # where every command reads its data
    with pytest.raises(ArgumentError, match=r"the tokenizer '.*tok' has no pad token.*--tokenizer_name"):
        run_classification.main(["--preset", "bert-base", "--config_overrides", TINY, "--tokenizer_name",
                                 str(tmp_path / "tok"), "--train_file", path("cls_train.jsonl"), "--do_train",
                                 "--output_dir", str(tmp_path / "o"), "--use_cpu"])


# ----------------------------------------------------------------------------------------- config and special ids
def _model_args(**values) -> ModelArguments:
    return ModelArguments(**values)


def test_config_override_typo_fails_on_a_preset_and_on_a_checkpoint(tmp_path):
    tok_dir = tokenizers()["gpt"]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    with pytest.raises(ArgumentError, match="no field 'd_modle'; did you mean 'd_model'"):
        build_config(_model_args(preset="gpt2", tokenizer_name=tok_dir, config_overrides="d_modle=48"), tok, "clm",
                     "gpt2")
    config, _ = build_config(_model_args(preset="gpt2", tokenizer_name=tok_dir, config_overrides=TINY), tok, "clm",
                             "gpt2")
    TobigsForCausalLM(config).save_pretrained(tmp_path / "ckpt")
    with pytest.raises(ArgumentError, match="no field 'd_modle'; did you mean 'd_model'"):
        build_config(_model_args(model_name_or_path=str(tmp_path / "ckpt"), config_overrides="d_modle=48"), tok,
                     "clm", "gpt2")
    config, _ = build_config(_model_args(model_name_or_path=str(tmp_path / "ckpt"), config_overrides="dropout=0.2"),
                             tok, "clm", "gpt2")
    assert config.dropout == 0.2
    with pytest.raises(ArgumentError, match="dropout must be in \\[0, 1\\), got 2"):
        build_config(_model_args(model_name_or_path=str(tmp_path / "ckpt"), config_overrides="dropout=2"), tok,
                     "clm", "gpt2")


def test_tokenizer_ids_reach_from_preset_with_the_vocabulary_size(tmp_path, monkeypatch):
    """build_config hands the tokenizer's size and ids to from_preset (one code decides ids and vocabulary)."""
    tok = char_tokenizer("abc", str(tmp_path / "tok"))
    calls = []
    original = TobigsConfig.from_preset.__func__

    def spy(cls, name, **overrides):
        calls.append((name, overrides))
        return original(cls, name, **overrides)

    monkeypatch.setattr(TobigsConfig, "from_preset", classmethod(spy))
    config, _ = build_config(_model_args(preset="gpt2", tokenizer_name=str(tmp_path / "tok"),
                                         config_overrides=TINY), tok, "clm", "gpt2")
    assert calls[0][0] == "gpt2"
    assert {k: calls[0][1][k] for k in ("vocab_size", "eos_token_id", "bos_token_id", "pad_token_id")} == {
        "vocab_size": len(tok), "eos_token_id": 0, "bos_token_id": None, "pad_token_id": None}
    # GPT-2's ids (50256) never reach a 5-token vocabulary: the tokenizer's own ids are used
    assert (config.vocab_size, config.eos_token_id, config.bos_token_id, config.pad_token_id) == (len(tok), 0, None,
                                                                                                   None)


# ----------------------------------------------------------------------------------------- data-file check
def test_valid_files_pass_the_data_file_check(tmp_path):
    """No false alarms: the fixtures and the forms datasets reads (BOM, blank lines, a pretty-printed .json document,
    quoted CSV fields over several lines, TSV) all pass, and datasets then loads the same number of records."""
    import datasets

    from tobigs_transformer.tooling.data_files import check_data_file

    for name in os.listdir(path("")):
        ext = os.path.splitext(name)[1]
        if ext in (".jsonl", ".txt"):
            check_data_file(path(name), "json" if ext == ".jsonl" else "text")
    cases = {
        "bom.jsonl": ("json", b'\xef\xbb\xbf{"text": "a"}\n\n{"text": "b"}\n', 2),
        "pretty.json": ("json", b'[\n  {"text": "a"},\n  {"text": "b"}\n]\n', 2),
        "quoted.csv": ("csv", b'text,label\n"two\nlines",1\nplain,0\n', 2),
        "tabs.tsv": ("csv", b"text\tlabel\na, b\t1\n", 1),
    }
    for name, (builder, content, n) in cases.items():
        (tmp_path / name).write_bytes(content)
        check_data_file(str(tmp_path / name), builder)
        kwargs = {"delimiter": "\t"} if name.endswith(".tsv") else {}
        loaded = datasets.load_dataset(builder, data_files={"train": str(tmp_path / name)},
                                       cache_dir=str(tmp_path / "cache"), **kwargs)["train"]
        assert len(loaded) == n, name


def test_pair_batches_never_hold_a_single_document():
    from tobigs_transformer.data.nsp import pair_batch_size  # the one run_mlm pairs with

    assert pair_batch_size(1001, 1000) == 1001  # 1000 + 1 would leave a last batch of one document
    assert pair_batch_size(1002, 1000) == 1000
    assert pair_batch_size(5, 2) == 3  # batches of 3 + 2
