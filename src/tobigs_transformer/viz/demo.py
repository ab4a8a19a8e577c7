"""A toy Korean -> English translator to look inside: the lecture's sentence pair as attention maps.

`toy_corpus()` composes ~600 sentence pairs from a small grammar (Korean is subject-object-verb, English
subject-verb-object, so the cross-attention has to reorder), `word_level_tokenizer()` gives one token per word so the
axes read like the lecture's pictures, and `train_toy_translator()` trains a tiny `transformer-base`-style model with
the HF `Trainer` (so its output folder has the `trainer_state.json` that `curves.py` reads) and saves model and
tokenizer with `save_pretrained`. The lecture pair itself is held out of the training data.

    tobigs-viz demo --out runs/toy-ko-en        # trains (seconds to a minute on 2 CPU cores), then draws every figure
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

LECTURE_SOURCE = "투빅아, 나는 너를 많이 사랑해."
LECTURE_TARGET = "Tobigs, I love you so much."

_SUBJECTS = [("나는", "I"), ("너는", "You"), ("우리는", "We"), ("그들은", "They")]
_OBJECTS = [("너를", "you"), ("나를", "me"), ("우리를", "us"), ("그들을", "them"), ("투빅스를", "Tobigs")]
_VERBS = [("사랑해", "love"), ("좋아해", "like"), ("믿어", "trust"), ("기억해", "remember"), ("도와", "help")]
_ADVERBS = [("", "", ""), ("많이", "", " so much"), ("정말", "really ", "")]
_VOCATIVES = [("", ""), ("투빅아, ", "Tobigs, ")]
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]


def toy_corpus(include_lecture_pair: bool = False) -> list[tuple[str, str]]:
    """(Korean, English) pairs: [vocative] S O [adverb] V.  ->  [vocative] S [really] V O [so much]."""
    pairs = []
    for (voc_ko, voc_en), (s_ko, s_en), (o_ko, o_en), (a_ko, a_pre, a_post), (v_ko, v_en) in itertools.product(
            _VOCATIVES, _SUBJECTS, _OBJECTS, _ADVERBS, _VERBS):
        korean = f"{voc_ko}{s_ko} {o_ko} {a_ko + ' ' if a_ko else ''}{v_ko}."
        english = f"{voc_en}{s_en} {a_pre}{v_en} {o_en}{a_post}."
        if include_lecture_pair or (korean, english) != (LECTURE_SOURCE, LECTURE_TARGET):
            pairs.append((korean, english))
    return pairs


def word_level_tokenizer(texts, save_dir: str | os.PathLike | None = None):
    """One token per word or punctuation mark, specials `<s>=0 <pad>=1 </s>=2 <unk>=3`, every sequence `$A </s>`."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for text in texts for w, _ in pre_tokenizers.Whitespace().pre_tokenize_str(text)})
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>", unk_token="<unk>", clean_up_tokenization_spaces=False)
    if save_dir is not None:
        tokenizer.save_pretrained(save_dir)
    return tokenizer


def toy_model_config(vocab_size: int, **overrides):
    """A tiny transformer-base (post-LN, sinusoidal, shared embeddings) for the toy task."""
    from tobigs_transformer import TobigsConfig

    values = dict(vocab_size=vocab_size, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                  decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, dropout=0.1,
                  label_smoothing=0.1, max_position_embeddings=32, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                  decoder_start_token_id=0)
    return TobigsConfig.from_preset("transformer-base", **{**values, **overrides})


def train_toy_translator(out_dir: str | os.PathLike, max_steps: int = 200, seed: int = 0,
                         learning_rate: float = 3e-3, batch_size: int = 32) -> Path:
    """Train the toy translator with `Trainer` and save model, tokenizer and trainer_state.json into `out_dir`."""
    import random

    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from tobigs_transformer import TobigsForConditionalGeneration

    out_dir = Path(out_dir)
    pairs = toy_corpus()
    random.Random(seed).shuffle(pairs)
    tokenizer = word_level_tokenizer([text for pair in pairs + [(LECTURE_SOURCE, LECTURE_TARGET)] for text in pair])
    held_out = len(pairs) // 10

    def encode(subset):
        return [tokenizer(ko, text_target=en) for ko, en in subset]

    train_data, eval_data = encode(pairs[held_out:]), encode(pairs[:held_out])
    torch.manual_seed(seed)
    model = TobigsForConditionalGeneration(toy_model_config(len(tokenizer)))
    arguments = TrainingArguments(
        output_dir=str(out_dir), max_steps=max_steps, per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=64, learning_rate=learning_rate, warmup_steps=max_steps // 10,
        lr_scheduler_type="cosine", logging_steps=max(1, max_steps // 40), eval_strategy="steps",
        eval_steps=max(1, max_steps // 8), save_strategy="no", report_to="none", use_cpu=True, seed=seed,
        disable_tqdm=True, dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=train_data, eval_dataset=eval_data,
                      data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100))
    trainer.train()
    trainer.save_model(str(out_dir))
    trainer.save_state()
    tokenizer.save_pretrained(out_dir)
    model.eval()
    inputs = tokenizer(LECTURE_SOURCE, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=16, do_sample=False, num_beams=1)
    logger.info("held-out lecture sentence %r -> %r", LECTURE_SOURCE,
                tokenizer.decode(output[0], skip_special_tokens=True))
    return out_dir


__all__ = ["LECTURE_SOURCE", "LECTURE_TARGET", "toy_corpus", "toy_model_config", "train_toy_translator",
           "word_level_tokenizer"]
