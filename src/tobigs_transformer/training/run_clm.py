"""Causal language modelling (GPT, Radford et al. 2018/2019): predict each token from the ones before it.

    tobigs-train-clm --preset gpt2 --config_overrides d_model=256,decoder_layers=4 --tokenizer_name tok/gpt \
        --train_file shakespeare_train.jsonl --validation_file shakespeare_validation.jsonl --block_size 128 \
        --do_train --do_eval --output_dir runs/gpt --sample_prompts "ROMEO." "To be, or not"

Texts (one per line of a .txt, or the ``--text_column`` of JSON/CSV) get an end-of-text token appended, are
concatenated and cut into ``--block_size`` blocks (``group_texts``).  Reports ``eval_loss`` and
``eval_perplexity = exp(eval_loss)``; ``--sample_prompts`` are continued with top-k sampling after training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
from transformers import DataCollatorForLanguageModeling

from ..data.packing import group_texts
from ..modeling_tobigs import TobigsForCausalLM
from .arguments import DataArguments, ModelArguments, TobigsTrainingArguments, parse_args
from .common import (
    artifacts_callback,
    build_config,
    load_model,
    load_raw_datasets,
    load_tokenizer,
    prepare,
    require_columns,
    run,
    select,
    setup,
)
from .trainers import TobigsTrainer
from .validation import ArgumentError, check_length


@dataclass
class CLMDataArguments(DataArguments):
    text_column: str = field(default="text", metadata={"help": "Column holding the text (JSON/CSV)."})
    block_size: int = field(default=128, metadata={"help": "Tokens per training block."})
    add_eos: bool = field(default=True, metadata={"help": "Append the end-of-text token to every text."})
    sample_prompts: list[str] = field(default_factory=list, metadata={"help": "Prompts to continue after training."})
    sample_max_new_tokens: int = field(default=48, metadata={"help": "Tokens generated per sample prompt."})
    sample_top_k: int = field(default=40, metadata={"help": "Top-k of the sampling (0 = greedy)."})


def _tokenize(batch, tokenizer, column: str, add_eos: bool):
    texts = [t for t in batch[column] if t and t.strip()]
    out = tokenizer(texts, add_special_tokens=False)
    if add_eos and tokenizer.eos_token_id is not None:
        out["input_ids"] = [ids + [tokenizer.eos_token_id] for ids in out["input_ids"]]
        out["attention_mask"] = [m + [1] for m in out["attention_mask"]]
    return dict(out)


def generate_samples(model, tokenizer, prompts, max_new_tokens: int = 48, top_k: int = 40, seed: int = 0) -> list[dict]:
    """Continue each prompt (top-k sampling, or greedy with ``top_k=0``)."""
    model.eval()
    samples = []
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for prompt in prompts:
            ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").to(model.device)
            with torch.no_grad():
                out = model.generate(
                    **ids, max_new_tokens=max_new_tokens, do_sample=top_k > 0, top_k=top_k or None,
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                )
            samples.append({"prompt": prompt, "text": tokenizer.decode(out[0], skip_special_tokens=True)})
    finally:
        torch.random.set_rng_state(generator_state)
    return samples


def main(args: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_args((ModelArguments, CLMDataArguments, TobigsTrainingArguments), args)
    prepare(model_args, data_args, training_args, "clm")
    setup(training_args, model_args, data_args)
    tokenizer = load_tokenizer(model_args)
    config, origin = build_config(model_args, tokenizer, "clm", default_preset="gpt2")
    check_length(data_args.block_size, config, "--block_size")

    raw = load_raw_datasets(data_args, model_args)
    first = next(iter(raw.values()))
    require_columns(first, [data_args.text_column], "--text_column")
    with training_args.main_process_first(desc="tokenize and group"):
        tokenized = raw.map(
            partial(_tokenize, tokenizer=tokenizer, column=data_args.text_column, add_eos=data_args.add_eos),
            batched=True, remove_columns=first.column_names, num_proc=data_args.preprocessing_num_workers,
            load_from_cache_file=not data_args.overwrite_cache, desc="tokenize",
        )
        blocks = {}
        for split, ds in tokenized.items():
            # Full blocks only (as transformers' run_clm): every example then weighs the same in eval_loss, whatever
            # the batch size or number of processes.  A split shorter than one block is kept as one short block.
            n_tokens = sum(len(ids) for ids in ds["input_ids"])
            blocks[split] = ds.map(
                partial(group_texts, block_size=data_args.block_size, drop_last=n_tokens >= data_args.block_size),
                batched=True, batch_size=None, num_proc=data_args.preprocessing_num_workers,
                load_from_cache_file=not data_args.overwrite_cache, desc=f"group {split} into blocks",
            )
    train_dataset = select(blocks["train"], data_args.max_train_samples) if training_args.do_train else None
    eval_dataset = select(blocks["validation"], data_args.max_eval_samples) if "validation" in blocks else None
    if training_args.do_train and len(train_dataset) == 0:
        raise ArgumentError(f"the training text is shorter than one block of {data_args.block_size} tokens")

    model = load_model(TobigsForCausalLM, model_args, config)
    trainer = TobigsTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if training_args.do_eval else None,
        processing_class=tokenizer,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        callbacks=[artifacts_callback(True, data_args, "causal LM")],
    )
    trainer.report_perplexity = True

    def predict():
        if not data_args.sample_prompts or not trainer.is_world_process_zero():
            return {}, {}
        samples = generate_samples(
            trainer.model, tokenizer, data_args.sample_prompts, data_args.sample_max_new_tokens,
            data_args.sample_top_k, training_args.seed,
        )
        for s in samples:
            print(f"[sample] {s['text']!r}")
        return {}, {"samples": samples}

    return run(trainer, training_args, data_args, lm=True, train_dataset=train_dataset, eval_dataset=eval_dataset,
               title="causal LM", predict=predict)


def cli() -> int:
    """Console-script entry point (``main`` returns the metrics; an exit status must be an int)."""
    main()
    return 0


if __name__ == "__main__":
    main()
