"""peft (LoRA and the other adapters) and trl (SFTTrainer, DPOTrainer) on tobigs_transformer models (docs/peft_trl.md).

- `import tobigs_transformer` registers our default target modules in peft's model-type tables, so `LoraConfig()`
  needs no `target_modules`; `lora_target_modules` / `check_target_modules` give and check the names.
- LoRA on each architecture trains, saves/loads its adapter (the classifier head through `modules_to_save`) and
  merges to the same logits.
- trl's SFTTrainer (plain text, prompt/completion, packing) and DPOTrainer train a TobigsForCausalLM offline; the
  packed (padding-free) rows trl sends attend only within each sequence.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny import tiny_config

import pipeline_support as support
from tobigs_transformer import (
    TobigsConfig,
    TobigsForCausalLM,
    TobigsForConditionalGeneration,
    TobigsForSequenceClassification,
)
from tobigs_transformer.integrations.peft import (
    IA3_TARGET_MODULES,
    LORA_LIKE_METHODS,
    LORA_TARGET_MODULES,
    check_target_modules,
    lora_target_modules,
)

peft = pytest.importorskip("peft")
trl = pytest.importorskip("trl")

from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURES = {  # preset -> (model class, peft task type)
    "bert-base": (TobigsForSequenceClassification, "SEQ_CLS"),
    "gpt2": (TobigsForCausalLM, "CAUSAL_LM"),
    "transformer-base": (TobigsForConditionalGeneration, "SEQ_2_SEQ_LM"),
}


def tiny_model(preset: str, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    cls, _ = ARCHITECTURES.get(preset, (TobigsForCausalLM, None))
    return cls(tiny_config(preset, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, **overrides)).eval()


def a_batch(preset: str) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(3, 90, (4, 9), generator=g)
    if preset == "bert-base":
        return {"input_ids": ids, "labels": torch.tensor([0, 1, 1, 0])}
    if preset == "transformer-base":
        return {"input_ids": ids, "labels": torch.randint(3, 90, (4, 7), generator=g)}
    return {"input_ids": ids, "labels": ids}


def adapted(model) -> list[str]:
    """The module names that got a LoRA/adapter layer, without peft's prefix."""
    return sorted(name.removeprefix("base_model.model.") for name, module in model.named_modules()
                  if isinstance(module, peft.tuners.tuners_utils.BaseTunerLayer))


# --- target module names ------------------------------------------------------------------------------------------

def test_lora_target_modules_per_architecture():
    assert lora_target_modules(tiny_config("gpt2")) == ["qkv_proj"]
    assert lora_target_modules(tiny_model("bert-base")) == ["qkv_proj"]
    assert lora_target_modules(tiny_config("transformer-base")) == ["qkv_proj", "q_proj", "kv_proj"]
    assert lora_target_modules(tiny_config("gpt2"), ["attention", "attention_output", "feed_forward"]) == [
        "qkv_proj", "self_attn.out_proj", "feed_forward.fc1", "feed_forward.fc2"]
    assert lora_target_modules(tiny_config("bart-base"), "attention_output") == [
        "self_attn.out_proj", "cross_attn.out_proj"]
    with pytest.raises(ValueError, match=r"parts \['mlp'\] unknown; choose from \['attention', 'attention_output', "
                                         r"'feed_forward'\]"):
        lora_target_modules(tiny_config("gpt2"), ["attention", "mlp"])
    with pytest.raises(TypeError, match="expected a tobigs_transformer model or TobigsConfig, got Linear"):
        lora_target_modules(torch.nn.Linear(2, 2))


def test_attention_output_names_leave_the_classification_head_alone():
    """RoBERTa's head has `classifier.out_proj`: the dotted `self_attn.out_proj` keeps LoRA off it."""
    model = TobigsForSequenceClassification(tiny_config("roberta-base"))
    assert any(name == "classifier.out_proj" for name, _ in model.named_modules())
    lora = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", target_modules=lora_target_modules(
        model, ["attention_output"])))
    assert adapted(lora) == [f"model.encoder.layers.{i}.self_attn.out_proj" for i in range(2)]


@pytest.mark.parametrize("preset", list(ARCHITECTURES))
def test_lora_config_without_target_modules_uses_our_defaults(preset):
    """Without the registration peft stops with "Please specify `target_modules`" (see the clean-process test)."""
    model = tiny_model(preset)
    lora = get_peft_model(model, LoraConfig(task_type=ARCHITECTURES[preset][1]))
    assert sorted(lora.peft_config["default"].target_modules) == sorted(LORA_TARGET_MODULES)
    stacks = {"bert-base": ["encoder"], "gpt2": ["decoder"], "transformer-base": ["encoder", "decoder"]}[preset]
    expected = [f"model.{stack}.layers.{i}.self_attn.qkv_proj" for stack in stacks for i in range(2)]
    if preset == "transformer-base":
        expected += [f"model.decoder.layers.{i}.cross_attn.{name}" for i in range(2) for name in ("kv_proj", "q_proj")]
    assert adapted(lora) == sorted(expected)


@pytest.mark.parametrize("method", [*LORA_LIKE_METHODS, "IA3", "LN_TUNING"])
@pytest.mark.parametrize("preset", list(ARCHITECTURES))
def test_every_registered_method_runs_without_target_modules(method, preset):
    from peft import PeftType
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    extra = {"ADALORA": {"total_step": 10}, "VBLORA": {"vector_length": 16}}.get(method, {})
    config = PEFT_TYPE_TO_CONFIG_MAPPING[PeftType[method]](task_type=ARCHITECTURES[preset][1], **extra)
    model = get_peft_model(tiny_model(preset), config)
    assert adapted(model), method
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    # the adapter only (and, for SEQ_CLS, the classifier head peft adds to modules_to_save)
    assert trainable and all(model.base_model.prefix in name or ".classifier.modules_to_save." in name
                             for name in trainable), trainable
    model.train()
    loss = model(**a_batch(preset)).loss
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad)
    if method == "IA3":
        assert sorted(model.peft_config["default"].target_modules) == sorted(IA3_TARGET_MODULES)


def test_common_recipe_matches_nothing_and_our_check_names_what_exists():
    model = tiny_model("gpt2")
    # peft's own message does not say which names exist
    with pytest.raises(ValueError, match=r"Target modules \{'[qv]_proj', '[qv]_proj'\} not found in the base model"):
        get_peft_model(model, LoraConfig(target_modules=["q_proj", "v_proj"]))
    with pytest.raises(ValueError) as error:
        check_target_modules(tiny_model("gpt2"), ["q_proj", "v_proj"])
    assert str(error.value) == (
        "target_modules ['q_proj', 'v_proj'] match no module of TobigsForCausalLM; self-attention projects Q, K and "
        "V with one fused `qkv_proj` (q_proj and kv_proj exist only in encoder-decoder cross-attention). Its Linear "
        "layers are ['feed_forward.fc1', 'feed_forward.fc2', 'lm_head', 'self_attn.out_proj', 'self_attn.qkv_proj']; "
        "tobigs_transformer.integrations.peft.lora_target_modules(model) gives ['qkv_proj'] (W^Q, W^K, W^V)")
    check_target_modules(model, lora_target_modules(model))
    check_target_modules(model, r".*\.self_attn\.qkv_proj")
    check_target_modules(model, "all-linear")
    with pytest.raises(ValueError, match=r"target_modules '\.\*attn\\\.v_proj' match no module"):
        check_target_modules(model, r".*attn\.v_proj")


def test_common_recipe_on_encoder_decoder_adapts_only_cross_attention_queries():
    """The trap the check exists for: peft accepts the recipe (q_proj exists in cross-attention), skips v_proj."""
    model = get_peft_model(tiny_model("transformer-base"), LoraConfig(target_modules=["q_proj", "v_proj"]))
    assert adapted(model) == [f"model.decoder.layers.{i}.cross_attn.q_proj" for i in range(2)]
    with pytest.raises(ValueError, match=r"target_modules \['v_proj'\] match no module of "
                                         r"TobigsForConditionalGeneration; self-attention projects"):
        check_target_modules(tiny_model("transformer-base"), ["q_proj", "v_proj"])


@pytest.mark.slow
def test_remote_code_process_needs_target_modules(tmp_path):
    """A process that loads an exported folder with trust_remote_code (our package never imported) gets peft's
    "Please specify `target_modules`"; the names of docs/peft_trl.md work there."""
    tiny_model("gpt2").save_pretrained(tmp_path)
    code = f"""
import sys
from transformers import AutoModelForCausalLM
from peft import LoraConfig, get_peft_model
model = AutoModelForCausalLM.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)
assert not any(m.startswith("tobigs_transformer") for m in sys.modules), "the package was imported"
try:
    get_peft_model(model, LoraConfig(task_type="CAUSAL_LM"))
except ValueError as error:
    print("ERROR", error)
model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", target_modules=["qkv_proj", "q_proj", "kv_proj"]))
print("ADAPTED", sum(name.endswith("lora_A") for name, _ in model.named_modules()))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ERROR Please specify `target_modules`" in proc.stdout
    assert "ADAPTED 2" in proc.stdout  # the qkv_proj of both layers


# --- LoRA on each architecture: train, save/load, merge -----------------------------------------------------------

@pytest.mark.parametrize("preset", list(ARCHITECTURES))
def test_lora_trains_saves_loads_and_merges(preset, tmp_path):
    task = ARCHITECTURES[preset][1]
    batch = a_batch(preset)
    model = get_peft_model(tiny_model(preset), LoraConfig(task_type=task, r=4, lora_alpha=8, lora_dropout=0.0))
    base_logits = tiny_model(preset)(**batch).logits
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    model.train()
    losses = []
    for _ in range(8):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.05, losses
    model.eval()
    with torch.no_grad():
        logits = model(**batch).logits
    assert (logits - base_logits).abs().max() > 1e-3  # the adapter changed the model

    model.save_pretrained(tmp_path)
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "adapter_model.safetensors")
    assert saved and all("lora_" in key or "classifier" in key for key in saved), sorted(saved)
    if task == "SEQ_CLS":  # peft adds the classifier head to modules_to_save for SEQ_CLS: the trained head is saved
        assert {"base_model.model.classifier.weight", "base_model.model.classifier.bias"} <= set(saved)
    loaded = PeftModel.from_pretrained(tiny_model(preset), tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, logits, rtol=0, atol=1e-6)
        merged = loaded.merge_and_unload()
        assert type(merged) is ARCHITECTURES[preset][0] and not adapted(merged)
        assert (merged(**batch).logits - logits).abs().max() < 1e-5


# --- trl: SFTTrainer ----------------------------------------------------------------------------------------------

def sft_trainer(tmp_path, dataset, model=None, peft_config=None, **config):
    from trl import SFTConfig, SFTTrainer

    tok = support.gpt_tokenizer()
    if model is None:
        torch.manual_seed(0)
        model = TobigsForCausalLM(support.config("gpt2", tok))
    args = SFTConfig(output_dir=str(tmp_path), max_steps=8, per_device_train_batch_size=4, learning_rate=3e-3,
                     logging_steps=1, report_to=[], use_cpu=True, save_strategy="no", max_length=64,
                     disable_tqdm=True, **config)
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok, peft_config=peft_config)


def train_losses(trainer) -> list[float]:
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == trainer.args.max_steps and all(math.isfinite(x) for x in losses), losses
    return losses


def text_dataset():
    from datasets import Dataset

    return Dataset.from_dict({"text": support.CORPUS[:32]})


def test_sft_plain_text(tmp_path):
    trainer = sft_trainer(tmp_path, text_dataset())
    batch = next(iter(trainer.get_train_dataloader()))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    losses = train_losses(trainer)
    assert sum(losses[-3:]) / 3 < losses[0] - 0.5, losses


def test_sft_prompt_completion_trains_on_the_completion_only(tmp_path):
    from datasets import Dataset

    tok = support.gpt_tokenizer()
    prompts, completions = support.CORPUS[:32:2], [" " + s for s in support.CORPUS[1:33:2]]
    trainer = sft_trainer(tmp_path, Dataset.from_dict({"prompt": prompts, "completion": completions}))
    batch = next(iter(trainer.get_train_dataloader()))
    for row, (ids, labels, mask) in enumerate(zip(batch["input_ids"], batch["labels"], batch["attention_mask"])):
        length = int(mask.sum())
        text = tok.decode(ids[:length])
        prompt = next(p for p in prompts if text.startswith(p))  # the loader shuffles
        n_prompt = len(tok(prompt)["input_ids"])
        assert (labels[:n_prompt] == -100).all(), row
        assert torch.equal(labels[n_prompt:length], ids[n_prompt:length]), row  # completion (+ EOS) is learned
        assert ids[length - 1] == tok.eos_token_id and (labels[length:] == -100).all(), row
    losses = train_losses(trainer)
    assert sum(losses[-3:]) / 3 < losses[0] - 0.5, losses


def test_sft_packing_trains_on_padding_free_rows(tmp_path):
    trainer = sft_trainer(tmp_path, text_dataset(), packing=True)
    batch = next(iter(trainer.get_train_dataloader()))
    # trl's BFD packing is padding-free: one row, positions restarting at each sequence, no attention_mask
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    assert len(starts) > 1
    # what trl sends gives each packed sequence its own logits (no pad_to_multiple_of: the row has no padding)
    model = trainer.model.eval()
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]
        for start, end in zip(starts, [*starts[1:], batch["input_ids"].shape[1]]):
            alone = model(input_ids=batch["input_ids"][:, start:end]).logits[0]
            torch.testing.assert_close(packed[start:end], alone, rtol=0, atol=1e-5)
    model.train()
    losses = train_losses(trainer)
    assert sum(losses[-3:]) / 3 < losses[0] - 0.5, losses


@pytest.mark.parametrize("position_embedding_type", ["learned", "sinusoidal", "rotary"])
def test_packed_rows_from_trl_attend_within_each_sequence(position_embedding_type):
    """trl's collator output (input_ids, position_ids restarting at 0, cu_seq_lens_*, max_length_*, seq_idx, no
    attention_mask) gives every packed sequence the logits it has alone."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model = tiny_model("gpt2", position_embedding_type=position_embedding_type)
    g = torch.Generator().manual_seed(3)
    sequences = [torch.randint(3, 90, (n,), generator=g) for n in (5, 9, 3, 7)]
    collator = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)
    # two packed rows of two sequences each, as trl's BFD packing stores them (seq_lengths per row)
    examples = [{"input_ids": torch.cat(sequences[:2]).tolist(), "seq_lengths": [5, 9]},
                {"input_ids": torch.cat(sequences[2:]).tolist(), "seq_lengths": [3, 7]}]
    batch = collator(examples)
    assert batch["position_ids"].tolist() == [list(range(5)) + list(range(9)) + list(range(3)) + list(range(7))]
    assert {"cu_seq_lens_q", "max_length_q", "seq_idx"} <= set(batch) and "attention_mask" not in batch
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]
        start = 0
        for sequence in sequences:
            alone = model(input_ids=sequence[None]).logits[0]
            torch.testing.assert_close(packed[start:start + len(sequence)], alone, rtol=0, atol=1e-5)
            start += len(sequence)
        # without the positions the rows would be one long sequence: the later sequences' logits change
        unpacked = model(input_ids=batch["input_ids"]).logits[0]
        assert (unpacked[5:14] - packed[5:14]).abs().max() > 1e-3


def test_packed_rows_with_relative_positions_are_refused():
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model = tiny_model("transformer-xl")
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(
        [{"input_ids": list(range(3, 11)), "seq_lengths": [3, 5]}])
    with pytest.raises(ValueError, match=r"packed rows \(position_ids restarting inside a row\) are not supported "
                                         r"with position_embedding_type='relative'"):
        model(**batch)


def test_sft_with_lora(tmp_path):
    tok = support.gpt_tokenizer()
    torch.manual_seed(0)
    model = TobigsForCausalLM(support.config("gpt2", tok))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = sft_trainer(tmp_path, text_dataset(), model=model, peft_config=LoraConfig(task_type="CAUSAL_LM"))
    assert isinstance(trainer.model, PeftModel)
    losses = train_losses(trainer)
    assert losses[-1] < losses[0], losses
    base = trainer.model.get_base_model().state_dict()
    assert all(torch.equal(base[k], v) for k, v in before.items() if k in base)  # only the adapter trained


# --- trl: DPOTrainer ----------------------------------------------------------------------------------------------

def preference_dataset():
    from datasets import Dataset

    corpus = support.CORPUS
    return Dataset.from_dict({"prompt": corpus[:16], "chosen": [" " + s for s in corpus[16:32]],
                              "rejected": [" " + s[::-1] for s in corpus[16:32]]})


def dpo_trainer(tmp_path, model, **kwargs):
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(output_dir=str(tmp_path / "out"), max_steps=6, per_device_train_batch_size=4, learning_rate=3e-3,
                     logging_steps=1, report_to=[], use_cpu=True, save_strategy="no", max_length=64,
                     disable_tqdm=True)
    return DPOTrainer(model=model, args=args, train_dataset=preference_dataset(),
                      processing_class=support.gpt_tokenizer(), **kwargs)


def check_dpo(trainer) -> None:
    losses = train_losses(trainer)
    # step 1: the policy is the reference, so every implicit reward is 0 and the loss is -log sigmoid(0) = log 2
    assert losses[0] == pytest.approx(math.log(2), abs=1e-4)
    assert losses[-1] < losses[0] - 0.1, losses
    margins = [entry["rewards/margins"] for entry in trainer.state.log_history if "rewards/margins" in entry]
    assert margins[0] == pytest.approx(0, abs=1e-4) and margins[-1] > 0, margins


def test_dpo_builds_its_reference_from_the_saved_folder(tmp_path):
    """trl loads the reference model from `config._name_or_path` (AutoModelForCausalLM, our registered class)."""
    torch.manual_seed(0)
    TobigsForCausalLM(support.config("gpt2", support.gpt_tokenizer())).save_pretrained(tmp_path / "base")
    model = TobigsForCausalLM.from_pretrained(tmp_path / "base")
    trainer = dpo_trainer(tmp_path, model)
    reference = trainer.ref_model
    assert type(reference) is TobigsForCausalLM and reference is not model
    frozen = {k: v.clone() for k, v in reference.state_dict().items()}
    check_dpo(trainer)
    assert all(torch.equal(v, frozen[k]) for k, v in reference.state_dict().items())  # the reference stays put
    assert any(not torch.equal(v, frozen[k]) for k, v in model.state_dict().items())


def test_dpo_with_a_model_built_in_memory_needs_a_reference(tmp_path):
    torch.manual_seed(0)
    model = TobigsForCausalLM(support.config("gpt2", support.gpt_tokenizer()))
    with pytest.raises(OSError, match="Repo id must use alphanumeric chars"):  # no `_name_or_path` to load from
        dpo_trainer(tmp_path, model)
    reference = TobigsForCausalLM(model.config)
    reference.load_state_dict(model.state_dict())
    check_dpo(dpo_trainer(tmp_path, model, ref_model=reference))


def test_dpo_with_lora_uses_the_base_model_as_reference(tmp_path):
    torch.manual_seed(0)
    model = TobigsForCausalLM(support.config("gpt2", support.gpt_tokenizer()))
    trainer = dpo_trainer(tmp_path, model, peft_config=LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16))
    assert trainer.ref_model is None and isinstance(trainer.model, PeftModel)
    check_dpo(trainer)


def test_registration_is_guarded_when_peft_is_missing_or_broken(monkeypatch, caplog):
    """peft stays optional: without it (or with a peft that does not import) registration does nothing and says so."""
    import importlib.util
    import logging

    from tobigs_transformer.integrations import peft as peft_tobigs

    table = peft.utils.constants.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
    monkeypatch.delitem(table, TobigsConfig.model_type)
    monkeypatch.setitem(sys.modules, "peft.utils", None)  # `from peft.utils import constants` raises ImportError
    with caplog.at_level(logging.WARNING, logger=peft_tobigs.__name__):
        assert peft_tobigs.register_peft_target_modules() is False
    assert "peft is installed but did not import (import of peft.utils halted; None in sys.modules)" in caplog.text
    assert "pass target_modules=['qkv_proj', 'q_proj', 'kv_proj']" in caplog.text
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    assert peft_tobigs.register_peft_target_modules() is False
    assert TobigsConfig.model_type not in table
    monkeypatch.undo()
    assert peft_tobigs.register_peft_target_modules() is True
    assert table[TobigsConfig.model_type] == LORA_TARGET_MODULES
