"""CTRL control codes in `tobigs train clm` (Keskar et al. 2019): a column of domain codes, added to the tokenizer as
special tokens, every example starting with its code, and generation from a code and an optional (empty) prompt."""

import json

import pytest
from fixtures.helpers import COMMON, TINY, path, read_metrics, tokenizers

from tobigs_transformer.training import ArgumentError, run_clm
from tobigs_transformer.training.clm_data import coded_blocks

CODES = ("<bible>", "<play>")


def _domains(tmp_path) -> tuple[str, str]:
    """Rows of two domains: the English side of the ko-en pairs and the Shakespeare-like lines."""
    bible = [json.loads(line)["en"] for line in open(path("ko_en_train.jsonl"), encoding="utf-8")]
    play = [line.strip() for line in open(path("en_train.txt"), encoding="utf-8") if line.strip()]
    rows = [{"text": t, "domain": "<bible>"} for t in bible] + [{"text": t, "domain": "<play>"} for t in play]
    train, validation = tmp_path / "train.jsonl", tmp_path / "validation.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows[::2] + rows[1::4]), encoding="utf-8")
    validation.write_text("".join(json.dumps(r) + "\n" for r in rows[3::8]), encoding="utf-8")
    return str(train), str(validation)


def test_coded_blocks_start_with_the_code_and_target_every_token_once():
    bodies = [list(range(100, 113)), [200, 201], list(range(300, 308))]
    out = coded_blocks({"input_ids": bodies, "control_code": ["a", "b", "a"]}, block_size=4, code_ids={"a": 1, "b": 2})
    assert all(ids[0] in (1, 2) for ids in out["input_ids"])
    assert all(len(i) == len(t) <= 4 for i, t in zip(out["input_ids"], out["shift_labels"]))
    assert [t for targets in out["shift_labels"] for t in targets] == [t for body in bodies for t in body]
    for inputs, targets in zip(out["input_ids"], out["shift_labels"]):
        assert inputs[1:] == targets[:-1]  # position t predicts the token after it: the code predicts the first


def test_control_codes_end_to_end(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train, validation = _domains(tmp_path)
    out = str(tmp_path / "ctrl")
    metrics = run_clm.main(["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name", tokenizers()["gpt"],
                            "--train_file", train, "--validation_file", validation, "--control_code_column",
                            "domain", "--block_size", "32", "--sample_control_codes", *CODES,
                            "--sample_max_new_tokens", "8", "--output_dir", out, "--max_steps", "3", "--do_train",
                            "--do_eval", *COMMON])
    assert "eval_perplexity" in metrics
    tokenizer = AutoTokenizer.from_pretrained(out)
    base = AutoTokenizer.from_pretrained(tokenizers()["gpt"])
    assert len(tokenizer) == len(base) + 2 and set(CODES) <= set(tokenizer.all_special_tokens)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.vocab_size == len(tokenizer)
    ids = [tokenizer.convert_tokens_to_ids(code) for code in CODES]
    assert tokenizer("<play> To be, or not", add_special_tokens=False)["input_ids"][0] == ids[1]  # never split
    samples = read_metrics(out)["samples"]
    assert [(s["control_code"], s["prompt"]) for s in samples] == [(c, "") for c in CODES]  # empty prompt allowed
    assert all(c not in s["text"] for s in samples for c in CODES)  # the code is given, not printed


def test_every_training_block_starts_with_its_code(tmp_path):
    from transformers import AutoTokenizer

    from tobigs_transformer.tooling.commands import parse
    from tobigs_transformer.training.run_clm import COMMAND, CausalLanguageModelling
    from tiny import tiny_config

    train, validation = _domains(tmp_path)
    recipe = CausalLanguageModelling(*parse(COMMAND, [
        "--tokenizer_name", tokenizers()["gpt"], "--train_file", train, "--validation_file", validation,
        "--control_code_column", "domain", "--block_size", "16", "--output_dir", str(tmp_path), "--use_cpu"]))
    raw = recipe.read()
    tokenizer = recipe.data_tokens(AutoTokenizer.from_pretrained(tokenizers()["gpt"]), raw)
    blocks = recipe.tokenize(raw, tokenizer, tiny_config("gpt2"))
    code_ids = {tokenizer.convert_tokens_to_ids(code): code for code in CODES}
    firsts = [ids[0] for ids in blocks["train"]["input_ids"]]
    assert set(firsts) == set(code_ids)
    # the rows' order is kept: the first block is the first row's, with its code
    first = json.loads(open(train, encoding="utf-8").readline())
    assert code_ids[firsts[0]] == first["domain"]
    assert tokenizer.decode(blocks["train"]["shift_labels"][0]).startswith(first["text"][:10])


def test_sample_codes_need_the_code_column(tmp_path):
    with pytest.raises(ArgumentError, match="--sample_control_codes needs --control_code_column"):
        run_clm.main(["--sample_control_codes", "<play>", "--output_dir", str(tmp_path)])
