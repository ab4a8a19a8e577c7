"""Masked-LM pretraining of BERT-style encoders (Devlin et al. 2019); the lecture's variants are ``--objective``:

* ``mlm+nsp`` (default) — BERT: masked LM (15 %, 80/10/10) + next sentence prediction on ``[CLS] A [SEP] B [SEP]``
  pairs built from documents (``create_nsp_examples``, google-research/bert semantics) → ``TobigsForPreTraining``;
* ``mlm`` — RoBERTa (Liu et al. 2019): no pair task, full sentences packed up to ``--max_seq_length`` across
  document boundaries, masks redrawn every time a batch is built (dynamic masking) → ``TobigsForMaskedLM``;
* ``mlm+sop`` — ALBERT (Lan et al. 2020): sentence-order prediction, A and B consecutive and swapped with p = ½
  (the binary head of ``TobigsForPreTraining`` learns "swapped" as label 1); with ``--masking ngram`` also ALBERT's
  n-gram masking (n ≤ 3, p(n) ∝ 1/n, whole n-grams masked; any objective takes it);
* ``electra`` — ELECTRA (Clark et al. 2020): RoBERTa's data (packed full sentences, dynamic masking, no NSP) fed to
  ``TobigsElectraForPreTraining`` (a small MLM generator + the replaced-token-detection discriminator, loss
  MLM + λ·RTD). ``--preset electra-small``/``electra-base``, or any encoder-only config with ``generator_size`` in
  ``--config_overrides``. Logs and evaluates ``mlm_loss``, ``rtd_loss``, ``rtd_accuracy``. Saved for fine-tuning:
  ``--output_dir`` holds the discriminator alone (what ``--model_name_or_path OUTPUT_DIR`` of ``tobigs train
  classification`` loads), ``OUTPUT_DIR/electra_joint`` the generator + discriminator (to continue pre-training);
  checkpoints hold the joint model, so resuming restores both.

Input: documents as lists of sentences — JSON/JSONL with a ``--sentences_column`` (list of strings), or text whose
examples are documents with one sentence per line (a .txt file is read one blank-line separated paragraph per
document), or any ``--text_column`` (split at newlines).

    tobigs train mlm --objective mlm+nsp --preset bert-base \
        --config_overrides d_model=256,encoder_layers=4,encoder_attention_heads=4,encoder_ffn_dim=1024 \
        --tokenizer_name tok/wordpiece --train_file docs_train.jsonl --validation_file docs_val.jsonl \
        --do_train --do_eval --output_dir runs/bert
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import datasets
import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling

from ..data.ngram_masking import DataCollatorForNgramMasking
from ..data.nsp import (
    DataCollatorForNextSentencePrediction,
    create_nsp_examples,
    create_sop_examples,
    pair_batch_size,
)
from ..data.packing import pack_sentences
from ..model.modeling_electra import TobigsElectraForPreTraining, generator_config
from ..model.modeling_tobigs import TobigsForMaskedLM, TobigsForPreTraining
from ..tooling.cli import run_cli
from .arguments import DocumentDataArguments
from .metrics import argmax_pretraining_logits, pretraining_accuracy
from .raw_data import map_examples, split_source
from .recipe import DocumentRecipe
from .tasks import Task
from .trainers import TobigsTrainer
from .validation import ArgumentError

Objective = Literal["mlm+nsp", "mlm", "mlm+sop", "electra"]

#: Where ELECTRA's generator + discriminator go inside --output_dir (the discriminator alone is at its root).
ELECTRA_JOINT_DIR = "electra_joint"

# Per-example evaluation statistics of ELECTRA (columns of the predictions compute_metrics receives).
_ELECTRA_STATS = ("mlm_loss", "rtd_loss", "rtd_correct", "real_tokens", "generator_correct", "masked", "replaced")


def electra_statistics(outputs, labels: torch.Tensor, pad_token_id: int | None) -> torch.Tensor:
    """(B, 7) per example: the batch's two losses, then counts over its real tokens (RTD correct, real, replaced)
    and its masked positions (generator argmax correct, masked); summed at the end, they give exact accuracies
    without keeping the (B, T, vocab) generator logits."""
    masked = labels != -100  # (B, T)
    real = masked if pad_token_id is None else (outputs.corrupted_ids != pad_token_id) | masked  # (B, T)
    replaced = outputs.replaced.bool()
    rtd_correct = ((outputs.logits > 0) == replaced) & real
    generator_correct = (outputs.generator_logits.argmax(-1) == labels) & masked
    batch = labels.shape[0]
    columns = [outputs.mlm_loss.expand(batch), outputs.rtd_loss.expand(batch), rtd_correct.sum(-1), real.sum(-1),
               generator_correct.sum(-1), masked.sum(-1), (replaced & real).sum(-1)]
    return torch.stack([c.float() for c in columns], dim=-1)  # (B, 7)


def electra_metrics(eval_pred) -> dict[str, float]:
    """Mean ``mlm_loss`` and ``rtd_loss``; ``rtd_accuracy`` over real tokens (its floor, calling every token original,
    is 1 - ``replaced_fraction``); ``generator_accuracy`` over the masked positions."""
    stats = dict(zip(_ELECTRA_STATS, np.asarray(eval_pred.predictions, dtype=np.float64).T))

    def share(part: str, whole: str) -> float:
        total = stats[whole].sum()
        return float(stats[part].sum() / total) if total else float("nan")

    return {"mlm_loss": float(stats["mlm_loss"].mean()), "rtd_loss": float(stats["rtd_loss"].mean()),
            "rtd_accuracy": share("rtd_correct", "real_tokens"), "replaced_fraction": share("replaced", "real_tokens"),
            "generator_accuracy": share("generator_correct", "masked")}


class ElectraTrainer(TobigsTrainer):
    """``TobigsTrainer`` for ``TobigsElectraForPreTraining``: logs the two parts of the loss, evaluates them with the
    RTD accuracy (:func:`electra_metrics`), and saves the discriminator as the run's model.

    Checkpoints (``checkpoint-N``) hold the joint model, which is what resuming must restore; the final save writes
    the discriminator alone at the root of ``--output_dir`` (the folder fine-tuning loads) and the joint model in
    ``ELECTRA_JOINT_DIR`` under it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._loss_parts: list[torch.Tensor] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        if model.training:
            self._loss_parts.append(torch.stack([outputs.mlm_loss.detach(), outputs.rtd_loss.detach()]))
            return (loss, outputs) if return_outputs else loss
        # evaluation keeps small per-example statistics, not the generator's (B, T, vocab) logits
        if not return_outputs:
            return loss
        pad = self.accelerator.unwrap_model(model).config.pad_token_id
        return loss, {"loss": loss, "statistics": electra_statistics(outputs, inputs["labels"], pad)}

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if "loss" in logs and self._loss_parts:  # a training log: the means since the previous one
            mlm, rtd = torch.stack(self._loss_parts).mean(0).tolist()
            logs["mlm_loss"], logs["rtd_loss"] = round(mlm, 4), round(rtd, 4)
            self._loss_parts.clear()
        super().log(logs, *args, **kwargs)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if os.path.abspath(output_dir) != os.path.abspath(self.args.output_dir):
            super()._save(output_dir, state_dict)  # a checkpoint: the joint model
            return
        super()._save(os.path.join(output_dir, ELECTRA_JOINT_DIR), state_dict)
        if not self.args.should_save:
            return
        discriminator = self.accelerator.unwrap_model(self.model, keep_torch_compile=False).discriminator
        if state_dict is not None:  # gathered by DeepSpeed / FSDP
            prefix = "discriminator."
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        discriminator.save_pretrained(output_dir, state_dict=state_dict)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)

#: ALBERT's longest masked n-gram (Lan et al. 2020 §4.1).
ALBERT_MAX_NGRAM = 3

#: One task per --objective: the model class, whether exp(loss) is a perplexity (only without the pair loss), title.
OBJECTIVES: dict[str, Task] = {
    "mlm+nsp": Task(name="mlm", title="BERT MLM+NSP", model_class=TobigsForPreTraining, metrics=pretraining_accuracy,
                    logits_to_predictions=argmax_pretraining_logits),
    "mlm": Task(name="mlm", title="RoBERTa MLM", model_class=TobigsForMaskedLM, language_model=True,
                metrics=pretraining_accuracy, logits_to_predictions=argmax_pretraining_logits),
    "mlm+sop": Task(name="mlm", title="ALBERT MLM+SOP", model_class=TobigsForPreTraining,
                    metrics=pretraining_accuracy, logits_to_predictions=argmax_pretraining_logits),
    "electra": Task(name="mlm", title="ELECTRA generator + discriminator", model_class=TobigsElectraForPreTraining,
                    metrics=electra_metrics, trainer=ElectraTrainer),
}


@dataclass
class MLMDataArguments(DocumentDataArguments):
    objective: Objective = field(
        default="mlm+nsp",
        metadata={"help": "mlm+nsp: BERT (masked LM + next sentence prediction); mlm: RoBERTa (masked LM on packed "
                          "full sentences); mlm+sop: ALBERT (masked LM + sentence-order prediction); electra: "
                          "ELECTRA (a small MLM generator + a replaced-token-detection discriminator on packed full "
                          "sentences; the discriminator is saved as the model)."},
    )
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example ([CLS] A [SEP] B [SEP])."})
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of tokens selected for masking."})
    masking: Literal["token", "ngram"] = field(
        default="token",
        metadata={"help": "token: BERT's single tokens; ngram: ALBERT's n-grams (n <= 3, p(n) ∝ 1/n, whole n-grams "
                          "masked, same budget)."},
    )
    short_seq_prob: float = field(default=0.1, metadata={"help": "Pairs: probability of a shorter target length."})
    dupe_factor: int = field(default=1, metadata={"help": "Pairs: number of differently-paired copies of the data."})
    pair_batch_size: int = field(
        default=1000,
        metadata={"help": "Documents per datasets.map batch when pairing or packing (a random B comes from the "
                          "batch)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.mlm_probability < 1.0:
            raise ArgumentError(f"--mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if self.dupe_factor < 1:
            raise ArgumentError(f"--dupe_factor must be >= 1, got {self.dupe_factor}")
        if self.pair_batch_size < 2:
            raise ArgumentError(f"--pair_batch_size must be >= 2 (documents per pairing batch), got "
                                f"{self.pair_batch_size}")

    @property
    def pairs(self) -> bool:
        """Sentence pairs with a binary label (NSP or SOP), or packed full sentences (``mlm``, ``electra``)."""
        return self.objective not in ("mlm", "electra")


class MaskedLanguageModelling(DocumentRecipe):
    data_arguments = MLMDataArguments
    default_preset = "bert-base"
    pads = "the masked-LM collator (examples of unequal length)"
    no_training_examples = "no pretraining examples could be built from {source} (too little text?)"
    removed_flags = {"--no_nsp": "--objective mlm", "--sop": "--objective mlm+sop"}

    @property
    def task(self) -> Task:
        return OBJECTIVES[self.data_args.objective]

    def check_tokenizer(self, tokenizer) -> None:
        if tokenizer.mask_token is None or tokenizer.cls_token is None or tokenizer.sep_token is None:
            raise ArgumentError(
                f"masked-LM pretraining needs a tokenizer with [MASK], [CLS] and [SEP]; "
                f"{self.model_args.tokenizer_name!r} has mask={tokenizer.mask_token!r} cls={tokenizer.cls_token!r} "
                f"sep={tokenizer.sep_token!r} (train one with tobigs tokenizer --kind wordpiece)"
            )
        super().check_tokenizer(tokenizer)

    def check_config(self, config) -> None:
        super().check_config(config)
        if self.data_args.objective == "electra":
            check_electra(config, self.model_args.model_name_or_path)

    def tokenize(self, raw, tokenizer, config) -> dict:
        """Pairs (or packed sentences) only for the splits this run trains or evaluates on."""
        used = {"train": self.training_args.do_train, "validation": self.training_args.do_eval}
        build = self._pairs if self.data_args.pairs else self._packed
        return {split: build(ds, split, tokenizer) for split, ds in raw.items() if used.get(split, False)}

    def _packed(self, documents, split: str, tokenizer) -> datasets.Dataset:
        args = self.data_args
        pack = partial(pack_sentences, tokenizer=tokenizer, max_length=args.max_seq_length, cross_documents=True)
        return map_examples(documents, pack, args, f"pack {split}", batch_size=args.pair_batch_size,
                            remove_columns=["sentences"])

    def _pairs(self, documents, split: str, tokenizer) -> datasets.Dataset:
        args, seed = self.data_args, self.training_args.seed
        sop = args.objective == "mlm+sop"
        builder = create_sop_examples if sop else create_nsp_examples
        if len(documents) < 2:
            raise ArgumentError(
                f"{split_source(args, split)} has {len(documents)} document(s); sentence pairs need >= 2 (a random B "
                "comes from a document other than A's): give more documents, or --objective mlm (masked LM alone, "
                "formerly --no_nsp)"
            )
        batch_size = pair_batch_size(len(documents), args.pair_batch_size)
        copies = []
        for copy in range(args.dupe_factor if split == "train" else 1):
            pair = partial(builder, tokenizer=tokenizer, max_seq_length=args.max_seq_length,
                           short_seq_prob=args.short_seq_prob, seed=seed + copy)
            pairs = map_examples(documents, pair, args, f"pairs {split} (copy {copy})", batch_size=batch_size,
                                 remove_columns=["sentences"])
            copies.append(pairs.rename_column("sentence_order_label", "next_sentence_label") if sop else pairs)
        return datasets.concatenate_datasets(copies) if len(copies) > 1 else copies[0]

    def collator(self, tokenizer, config, model):
        args = self.data_args
        ngrams = {"max_ngram": ALBERT_MAX_NGRAM} if args.masking == "ngram" else {}
        if args.pairs:
            return DataCollatorForNextSentencePrediction(tokenizer, mlm_probability=args.mlm_probability,
                                                         max_length=config.max_position_embeddings, **ngrams)
        masked_lm = DataCollatorForNgramMasking if ngrams else DataCollatorForLanguageModeling
        return masked_lm(tokenizer, mlm=True, mlm_probability=args.mlm_probability, **ngrams)


def check_electra(config, model_name_or_path: str | None) -> None:
    """ELECTRA needs a generator size that gives a valid generator, and continues only from a joint checkpoint."""
    if config.generator_size is None:
        raise ArgumentError(
            "--objective electra needs the generator's size relative to the discriminator: --preset electra-small or "
            "electra-base, or --config_overrides generator_size=0.25 (the paper's 1/4 for Small, 1/3 for Base)"
        )
    try:
        generator_config(config)
    except ValueError as exc:
        raise ArgumentError(f"--objective electra: generator_size={config.generator_size} gives no valid generator: "
                            f"{' '.join(str(exc).split())}") from exc
    if model_name_or_path and "TobigsElectraForPreTraining" not in (config.architectures or []):
        raise ArgumentError(
            f"--objective electra --model_name_or_path {model_name_or_path!r} holds {config.architectures}, not the "
            f"joint generator + discriminator; continue pre-training from its {ELECTRA_JOINT_DIR!r} folder (the root "
            "of an ELECTRA run is the discriminator alone, for fine-tuning)"
        )


COMMAND = MaskedLanguageModelling.command(__doc__)


def main(args: list[str] | None = None) -> dict:
    """``tobigs train mlm`` from Python: the run's metrics (errors raise)."""
    return MaskedLanguageModelling.run_args(args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, "tobigs train mlm", sys.argv[1:]))
