"""`tobigs-convert --from-hf DIR --out DIR` and `--to-hf DIR --out DIR` on local save_pretrained folders (offline),
tokenizer files copied along."""

import json

import pytest
import torch
import transformers
from convert.convert_cases import assert_same_state_dict, right_padded, tiny_hf
from tokenizers import Tokenizer, models, pre_tokenizers

import tobigs_transformer
from tobigs_transformer.convert.cli import main


def _save_tiny_tokenizer(folder):
    vocab = {f"w{i}": i for i in range(99)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="w3"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="w3").save_pretrained(folder)


@pytest.mark.parametrize(
    "family, hf_class, ours_class",
    [("gpt2", "GPT2LMHeadModel", "TobigsForCausalLM"), ("marian", "MarianMTModel", "TobigsForConditionalGeneration"),
     ("ctrl", "CTRLLMHeadModel", "TobigsForCausalLM"), ("roberta", "RobertaForMaskedLM", "TobigsForMaskedLM"),
     ("electra", "ElectraForSequenceClassification", "TobigsForSequenceClassification")],
)
def test_round_trip_through_folders(family, hf_class, ours_class, tmp_path, capsys):
    hf_model = tiny_hf(family, hf_class)
    hf_model.save_pretrained(tmp_path / "hf")
    _save_tiny_tokenizer(tmp_path / "hf")

    assert main(["--from-hf", str(tmp_path / "hf"), "--output_dir", str(tmp_path / "ours"), "--verify"]) == 0
    report = capsys.readouterr().out
    assert f"-> {ours_class}" in report and "tokenizer.json" in report
    assert (tmp_path / "ours" / "tokenizer.json").is_file()
    assert json.loads((tmp_path / "ours" / "config.json").read_text())["model_type"] == "tobigs_transformer"

    ours = getattr(tobigs_transformer, ours_class).from_pretrained(tmp_path / "ours").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "ours")
    assert tokenizer("w5 w7")["input_ids"] == [5, 7]
    ids, mask = right_padded(2, [6, 4], 3, 90, pad=hf_model.config.pad_token_id)
    inputs = dict(input_ids=ids, attention_mask=mask)
    if hf_model.config.is_encoder_decoder:
        inputs["decoder_input_ids"] = ids[:, :3]
    with torch.no_grad():
        assert (ours(**inputs).logits - hf_model(**inputs).logits).abs().max() < 1e-5

    assert main(["--to-hf", str(tmp_path / "ours"), "--output_dir", str(tmp_path / "back")]) == 0
    back = getattr(transformers, hf_class).from_pretrained(tmp_path / "back")
    assert_same_state_dict(back.state_dict(), hf_model.state_dict())
    assert (tmp_path / "back" / "tokenizer.json").is_file()


def test_target_selects_the_head(tmp_path, capsys):
    tiny_hf("bert", "BertForPreTraining").save_pretrained(tmp_path / "bert")
    assert main(["--from-hf", str(tmp_path / "bert"), "--output_dir", str(tmp_path / "mlm"),
                 "--target", "TobigsForMaskedLM"]) == 0
    assert "-> TobigsForMaskedLM" in capsys.readouterr().out


def test_errors_are_reported_not_raised(tmp_path, capsys):
    tiny_hf("bart", "BartForConditionalGeneration").save_pretrained(tmp_path / "bart")
    assert main(["--from-hf", str(tmp_path / "bart"), "--output_dir", str(tmp_path / "x"), "--target", "BertModel"]) == 2
    assert "BertModel is not supported" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--from-hf", "a", "--to-hf", "b", "--output_dir", "c"])
