"""Masked-LM pretraining for BERT-style encoders (Devlin et al. 2019), with the lecture's variants as flags:

* default — BERT: masked LM (15 %, 80/10/10) + next sentence prediction on ``[CLS] A [SEP] B [SEP]`` pairs built
  from documents (``create_nsp_examples``, google-research/bert semantics) → ``TobigsForPreTraining``;
* ``--no_nsp`` — RoBERTa (Liu et al. 2019): no NSP, full sentences packed up to ``--max_seq_length`` across
  document boundaries, masks redrawn every time a batch is built (dynamic masking) → ``TobigsForMaskedLM``;
* ``--sop`` — ALBERT (Lan et al. 2020): sentence-order prediction, A and B consecutive and swapped with p = ½
  (the binary head of ``TobigsForPreTraining`` learns "swapped" as label 1).

Input: documents as lists of sentences — JSON/JSONL with a ``--sentences_column`` (list of strings), or text whose
examples are documents with one sentence per line (a .txt file is read one blank-line separated paragraph per
document), or any ``--text_column`` (split at newlines).

    tobigs-train-mlm --preset bert-base --config_overrides d_model=256,encoder_layers=4,encoder_attention_heads=4,\
encoder_ffn_dim=1024 --tokenizer_name tok/wordpiece --train_file docs_train.jsonl --validation_file docs_val.jsonl \
        --do_train --do_eval --output_dir runs/bert
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import datasets
from transformers import DataCollatorForLanguageModeling

from ..data.nsp import DataCollatorForNextSentencePrediction, create_nsp_examples, create_sop_examples
from ..data.packing import pack_sentences
from ..modeling_tobigs import TobigsForMaskedLM, TobigsForPreTraining
from ..tooling.cli import run_cli
from .arguments import DataArguments, ModelArguments, TobigsTrainingArguments, parse_args
from .common import (
    artifacts_callback,
    build_config,
    load_model,
    load_documents,
    load_raw_datasets,
    load_tokenizer,
    prepare,
    require_pad_token,
    run,
    select,
    setup,
    split_source,
)
from .trainers import TobigsTrainer
from .validation import ArgumentError, check_length


@dataclass
class MLMDataArguments(DataArguments):
    sentences_column: str = field(default="sentences", metadata={"help": "Column of documents as sentence lists."})
    text_column: str = field(default="text", metadata={"help": "Text column used when there is no sentences column."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example ([CLS] A [SEP] B [SEP])."})
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of tokens selected for masking."})
    no_nsp: bool = field(default=False, metadata={"help": "RoBERTa recipe: masked LM only, packed full sentences."})
    sop: bool = field(default=False, metadata={"help": "ALBERT recipe: sentence-order prediction instead of NSP."})
    short_seq_prob: float = field(default=0.1, metadata={"help": "BERT: probability of a shorter target length."})
    dupe_factor: int = field(default=1, metadata={"help": "BERT: number of differently-paired copies of the data."})
    pair_batch_size: int = field(
        default=1000, metadata={"help": "Documents per datasets.map batch when pairing (random B comes from the batch)."}
    )


def _accuracy_metrics(eval_pred):
    preds, labels = eval_pred.predictions, eval_pred.label_ids
    out = {}
    if isinstance(preds, (tuple, list)):
        mlm_pred, pair_pred = preds[0], preds[1]
        mlm_labels, pair_labels = labels[0], labels[1]
        out["nsp_accuracy"] = float((pair_pred == pair_labels).mean())
    else:
        mlm_pred, mlm_labels = preds, labels
    mask = mlm_labels != -100
    out["mlm_accuracy"] = float((mlm_pred[mask] == mlm_labels[mask]).mean()) if mask.any() else float("nan")
    return out


def _argmax_logits(logits, labels):
    if isinstance(logits, (tuple, list)):
        return tuple(x.argmax(-1) for x in logits[:2])
    return logits.argmax(-1)


def _pair_batch_size(n_documents: int, wanted: int, source: str) -> int:
    """The ``datasets.map`` batch size of the pair builders: a random B comes from another document of the same
    batch, so no batch may hold a single document (the last one would, with ``n % wanted == 1``)."""
    if n_documents < 2:
        raise ArgumentError(
            f"{source} has {n_documents} document(s); sentence pairs need >= 2 (a random B comes from a document "
            "other than A's): give more documents, or --no_nsp"
        )
    if wanted < 2:
        raise ArgumentError(f"--pair_batch_size must be >= 2 (documents per pairing batch), got {wanted}")
    return wanted + 1 if n_documents % wanted == 1 else wanted


def main(args: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_args((ModelArguments, MLMDataArguments, TobigsTrainingArguments), args)
    if data_args.no_nsp and data_args.sop:
        raise ArgumentError("--no_nsp (RoBERTa) and --sop (ALBERT) exclude each other")
    if not 0.0 < data_args.mlm_probability < 1.0:
        raise ArgumentError(f"--mlm_probability must be in (0, 1), got {data_args.mlm_probability}")
    if data_args.dupe_factor < 1:
        raise ArgumentError(f"--dupe_factor must be >= 1, got {data_args.dupe_factor}")
    prepare(model_args, data_args, training_args, "mlm")
    training_args.remove_unused_columns = False  # keep special_tokens_mask for the collator
    setup(training_args, model_args, data_args)
    tokenizer = load_tokenizer(model_args)
    if tokenizer.mask_token is None or tokenizer.cls_token is None or tokenizer.sep_token is None:
        raise ArgumentError(
            f"masked-LM pretraining needs a tokenizer with [MASK], [CLS] and [SEP]; {model_args.tokenizer_name!r} has "
            f"mask={tokenizer.mask_token!r} cls={tokenizer.cls_token!r} sep={tokenizer.sep_token!r} "
            "(train one with tobigs-train-tokenizer --kind wordpiece)"
        )
    require_pad_token(tokenizer, model_args, "the masked-LM collator (examples of unequal length)")
    config, origin = build_config(model_args, tokenizer, "mlm", default_preset="bert-base")
    check_length(data_args.max_seq_length, config, "--max_seq_length")

    raw = load_raw_datasets(data_args, model_args, text_sample_by="paragraph")
    with training_args.main_process_first(desc="build pretraining examples"):
        docs = load_documents(data_args, raw)
        processed = {}
        used = {"train": training_args.do_train, "validation": training_args.do_eval}
        for split, ds in docs.items():
            if not used.get(split, False):  # pairs are built only for the splits this run trains or evaluates on
                continue
            if data_args.no_nsp:
                processed[split] = ds.map(
                    partial(pack_sentences, tokenizer=tokenizer, max_length=data_args.max_seq_length,
                            cross_documents=True),
                    batched=True, batch_size=data_args.pair_batch_size, remove_columns=["sentences"],
                    num_proc=data_args.preprocessing_num_workers, desc=f"pack {split}",
                )
                continue
            builder = create_sop_examples if data_args.sop else create_nsp_examples
            batch_size = _pair_batch_size(len(ds), data_args.pair_batch_size, split_source(data_args, split))
            copies = []
            for copy in range(data_args.dupe_factor if split == "train" else 1):
                pairs = ds.map(
                    partial(builder, tokenizer=tokenizer, max_seq_length=data_args.max_seq_length,
                            short_seq_prob=data_args.short_seq_prob, seed=training_args.seed + copy),
                    batched=True, batch_size=batch_size, remove_columns=["sentences"],
                    num_proc=data_args.preprocessing_num_workers, desc=f"pairs {split} (copy {copy})",
                )
                if data_args.sop:
                    pairs = pairs.rename_column("sentence_order_label", "next_sentence_label")
                copies.append(pairs)
            processed[split] = datasets.concatenate_datasets(copies) if len(copies) > 1 else copies[0]
    train_dataset = select(processed["train"], data_args.max_train_samples) if training_args.do_train else None
    eval_dataset = select(processed["validation"], data_args.max_eval_samples) if "validation" in processed else None
    if training_args.do_train and len(train_dataset) == 0:
        raise ArgumentError("no pretraining examples could be built from the training data (too little text?)")

    if data_args.no_nsp:
        model_class = TobigsForMaskedLM
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=data_args.mlm_probability)
    else:
        model_class = TobigsForPreTraining
        collator = DataCollatorForNextSentencePrediction(tokenizer, mlm_probability=data_args.mlm_probability)
    model = load_model(model_class, model_args, config)
    recipe = "RoBERTa MLM" if data_args.no_nsp else "ALBERT MLM+SOP" if data_args.sop else "BERT MLM+NSP"
    trainer = TobigsTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if training_args.do_eval else None,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=_accuracy_metrics,
        preprocess_logits_for_metrics=_argmax_logits,
        callbacks=[artifacts_callback(data_args.no_nsp, data_args, recipe)],
    )
    # exp(loss) is the masked-LM perplexity only without the pair loss (BERT's loss is MLM + NSP).
    trainer.report_perplexity = data_args.no_nsp
    return run(trainer, training_args, data_args, lm=data_args.no_nsp, train_dataset=train_dataset, eval_dataset=eval_dataset,
               title=recipe)


def cli(argv: list[str] | None = None) -> int:
    """Console-script entry point: exit status 0, 1 (runtime error) or 2 (usage error), one line on stderr."""
    return run_cli(main, "tobigs-train-mlm", argv)


if __name__ == "__main__":
    raise SystemExit(cli())
