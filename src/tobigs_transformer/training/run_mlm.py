"""Masked-LM pretraining of BERT-style encoders (Devlin et al. 2019); the lecture's variants are ``--objective``:

* ``mlm+nsp`` (default) — BERT: masked LM (15 %, 80/10/10) + next sentence prediction on ``[CLS] A [SEP] B [SEP]``
  pairs built from documents (``create_nsp_examples``, google-research/bert semantics) → ``TobigsForPreTraining``;
* ``mlm`` — RoBERTa (Liu et al. 2019): no pair task, full sentences packed up to ``--max_seq_length`` across
  document boundaries, masks redrawn every time a batch is built (dynamic masking) → ``TobigsForMaskedLM``;
* ``mlm+sop`` — ALBERT (Lan et al. 2020): sentence-order prediction, A and B consecutive and swapped with p = ½
  (the binary head of ``TobigsForPreTraining`` learns "swapped" as label 1); with ``--masking ngram`` also ALBERT's
  n-gram masking (n ≤ 3, p(n) ∝ 1/n, whole n-grams masked; any objective takes it).

Input: documents as lists of sentences — JSON/JSONL with a ``--sentences_column`` (list of strings), or text whose
examples are documents with one sentence per line (a .txt file is read one blank-line separated paragraph per
document), or any ``--text_column`` (split at newlines).

    tobigs train mlm --objective mlm+nsp --preset bert-base \
        --config_overrides d_model=256,encoder_layers=4,encoder_attention_heads=4,encoder_ffn_dim=1024 \
        --tokenizer_name tok/wordpiece --train_file docs_train.jsonl --validation_file docs_val.jsonl \
        --do_train --do_eval --output_dir runs/bert
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import datasets
from transformers import DataCollatorForLanguageModeling

from ..data.nsp import (
    DataCollatorForNextSentencePrediction,
    create_nsp_examples,
    create_sop_examples,
    pair_batch_size,
)
from ..data.ngram_masking import DataCollatorForNgramMasking
from ..data.packing import pack_sentences
from ..modeling_tobigs import TobigsForMaskedLM, TobigsForPreTraining
from ..tooling.cli import run_cli
from .arguments import DocumentDataArguments
from .common import map_examples, split_source
from .metrics import argmax_pretraining_logits, pretraining_accuracy
from .recipe import DocumentRecipe
from .tasks import Task
from .validation import ArgumentError

Objective = Literal["mlm+nsp", "mlm", "mlm+sop"]

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
}


@dataclass
class MLMDataArguments(DocumentDataArguments):
    objective: Objective = field(
        default="mlm+nsp",
        metadata={"help": "mlm+nsp: BERT (masked LM + next sentence prediction); mlm: RoBERTa (masked LM on packed "
                          "full sentences); mlm+sop: ALBERT (masked LM + sentence-order prediction)."},
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
        """Sentence pairs with a binary label (NSP or SOP), or packed full sentences (``mlm``)."""
        return self.objective != "mlm"


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


COMMAND = MaskedLanguageModelling.command(__doc__)


def main(args: list[str] | None = None) -> dict:
    """``tobigs train mlm`` from Python: the run's metrics (errors raise)."""
    return MaskedLanguageModelling.run_args(args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, "tobigs train mlm", sys.argv[1:]))
