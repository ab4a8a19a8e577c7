"""Seq2seq pipelines for the encoder-decoder models (original Transformer, BART): translation, summarization and
text-to-text generation.

transformers v5 removed its `translation`, `summarization` and `text2text-generation` pipelines (only chat models
through `text-generation` remain). An encoder-decoder model is still exactly what those tasks were made for, so this
module brings the three back for `tobigs_transformer` models, with the v4 call and output conventions:

    pipe = pipeline("translation", model=model, tokenizer=tokenizer)
    pipe(["Hello world", "Good morning"], num_beams=4, max_new_tokens=32, batch_size=2)
    # -> [{"translation_text": ...}, {"translation_text": ...}]

Two ways in (see docs/pipelines_and_hub.md for the full table):
- `register_pipelines()` (run by `import tobigs_transformer`) registers the pipelines under the built-in names
  (`translation`, `translation_xx_to_yy`, `summarization`, `text2text-generation`) and under `tobigs-translation`,
  `tobigs-summarization`, `tobigs-text2text-generation`.
- Every folder an encoder-decoder model saves (`save_pretrained`, Trainer checkpoints and outputs, exports, and
  `pipe.save_pretrained`, which saves the model) lists them in its config's `custom_pipelines` (see
  `remote_code.py`); transformers reads that entry before it rejects a removed task name, so
  `pipeline("translation", model=<folder>, trust_remote_code=True)` works where this package is not installed.

This file is exported with the model code: it imports only torch and transformers (no sibling modules).
"""

import re

import torch
from transformers import AutoModelForSeq2SeqLM, GenerationConfig, Pipeline
from transformers.utils import logging

logger = logging.get_logger(__name__)

_TRANSLATION_TASK = re.compile(r"^translation_([^_]+)_to_([^_]+)$")
# Generation default when neither the call, the pipeline nor the model's generation config sets a length.
DEFAULT_MAX_NEW_TOKENS = 128


class TobigsText2TextGenerationPipeline(Pipeline):
    """Text in, generated text out, through an encoder-decoder model's `generate()` (greedy, beam search, sampling).

    Call arguments (also accepted at construction):
        prefix (`str`): prepended to every input (a T5-style task prefix such as `"summarize: "`); defaults to the
            model config's `prefix` if it has one. `{src_lang}`/`{tgt_lang}` in it are filled in by translation.
        truncation (`bool`): cut inputs to what the encoder can read (the tokenizer's `model_max_length`, at most
            `config.max_position_embeddings`) instead of failing on them. Off by default: too long inputs raise.
        return_text / return_tensors (`bool`): return decoded text (default) and/or the generated token ids.
        skip_special_tokens, clean_up_tokenization_spaces: passed to the tokenizer's `decode`.
        Everything else is a generation parameter for `generate()`: `max_new_tokens`, `max_length`, `num_beams`,
        `num_return_sequences`, `do_sample`, `generation_config`, ...
    `batch_size=n` encodes n inputs at once (padded with the tokenizer's pad token and padding side).

    Returns one list of `{"generated_text": ...}` per input (`num_return_sequences` entries); for a list of inputs
    with one sequence each, the inner lists are flattened, as in transformers v4.
    """

    return_name = "generated"
    _pipeline_calls_generate = True
    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _default_generation_config = GenerationConfig(max_new_tokens=DEFAULT_MAX_NEW_TOKENS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not getattr(self.model.config, "is_encoder_decoder", False):
            raise ValueError(
                f"the {self.task or 'seq2seq'} pipeline needs an encoder-decoder model (AutoModelForSeq2SeqLM); "
                f"{type(self.model).__name__} is not one — use the text-generation pipeline for decoder-only models"
            )
        if self.tokenizer is None:
            raise ValueError(f"the {self.task or 'seq2seq'} pipeline needs a tokenizer")
        # A decoder with learned positions cannot read more than max_position_embeddings tokens (start token included).
        max_positions = getattr(self.model.config, "max_position_embeddings", None)
        if max_positions:
            limit = max(1, max_positions - 1)
            if self._generation_defaults.get("max_new_tokens", 0) > limit:
                self._generation_defaults["max_new_tokens"] = limit

    # ---- parameters ----------------------------------------------------------------------------------------------
    def _sanitize_parameters(
        self,
        return_tensors=None,
        return_text=None,
        clean_up_tokenization_spaces=None,
        skip_special_tokens=None,
        truncation=None,
        prefix=None,
        **generate_kwargs,
    ):
        preprocess_params = {}
        if truncation is not None:
            preprocess_params["truncation"] = truncation
        if prefix is not None:
            preprocess_params["prefix"] = prefix
        postprocess_params = {}
        if return_tensors is not None:
            postprocess_params["return_tensors"] = return_tensors
        if return_text is not None:
            postprocess_params["return_text"] = return_text
        if clean_up_tokenization_spaces is not None:
            postprocess_params["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        if skip_special_tokens is not None:
            postprocess_params["skip_special_tokens"] = skip_special_tokens
        return preprocess_params, generate_kwargs, postprocess_params

    def _input_prefix(self, prefix=None) -> str:
        if prefix is not None:
            return prefix
        return self.prefix or ""  # `Pipeline.__init__` reads `config.prefix` when the model has one

    def _max_input_length(self) -> int | None:
        limits = [getattr(self.model.config, "max_position_embeddings", None)]
        model_max_length = getattr(self.tokenizer, "model_max_length", None)
        if model_max_length is not None and model_max_length < 1e9:
            limits.append(model_max_length)
        limits = [limit for limit in limits if limit]
        return min(limits) if limits else None

    # ---- the three steps -----------------------------------------------------------------------------------------
    def preprocess(self, inputs, truncation=False, prefix=None, **kwargs):
        if not isinstance(inputs, str):
            raise TypeError(f"{type(self).__name__} takes a string or a list of strings, got {type(inputs).__name__}")
        text = self._input_prefix(prefix) + inputs
        encoding = self.tokenizer(
            text,
            return_tensors="pt",
            truncation=bool(truncation),
            max_length=self._max_input_length() if truncation else None,
        )
        # The encoder reads ids and mask only (a BERT-style tokenizer may add token_type_ids).
        return {"input_ids": encoding["input_ids"], "attention_mask": encoding["attention_mask"]}

    def _forward(self, model_inputs, **generate_kwargs):
        in_b = model_inputs["input_ids"].shape[0]
        generate_kwargs = self._prepare_generate_kwargs(generate_kwargs)
        output = self.model.generate(**model_inputs, **generate_kwargs)
        output_ids = output.sequences if not isinstance(output, torch.Tensor) else output
        out_b = output_ids.shape[0]
        # (batch * num_return_sequences, length) -> (batch, num_return_sequences, length)
        return {"output_ids": output_ids.reshape(in_b, out_b // in_b, *output_ids.shape[1:])}

    def postprocess(
        self, model_outputs, return_tensors=False, return_text=True, clean_up_tokenization_spaces=False,
        skip_special_tokens=True,
    ):
        records = []
        for output_ids in model_outputs["output_ids"][0]:
            record = {}
            if return_tensors:
                record[f"{self.return_name}_token_ids"] = output_ids
            if return_text or not return_tensors:
                record[f"{self.return_name}_text"] = self.tokenizer.decode(
                    output_ids.tolist(),
                    skip_special_tokens=skip_special_tokens,
                    clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                )
            records.append(record)
        return records

    def __call__(self, inputs, *args, **kwargs):
        """Generate for one text (returns a list of dicts) or a list of texts (returns one dict per text, or one list
        per text when `num_return_sequences > 1`)."""
        result = super().__call__(inputs, *args, **kwargs)
        if (
            isinstance(inputs, list)
            and all(isinstance(item, str) for item in inputs)
            and all(len(records) == 1 for records in result)
        ):
            return [records[0] for records in result]
        return result


class TobigsSummarizationPipeline(TobigsText2TextGenerationPipeline):
    """Summarize texts with an encoder-decoder model (BART-style). Returns `{"summary_text": ...}` per sequence."""

    return_name = "summary"


class TobigsTranslationPipeline(TobigsText2TextGenerationPipeline):
    """Translate texts with an encoder-decoder model. Returns `{"translation_text": ...}` per sequence.

    `src_lang`/`tgt_lang` (call or construction arguments, or a task name `translation_xx_to_yy`):
    - a tokenizer with `src_lang`/`tgt_lang` attributes (multilingual tokenizers) gets them set before encoding;
    - a prefix containing `{src_lang}`/`{tgt_lang}` is filled in with them (one model, several directions);
    - a model whose config records its direction (`config.src_lang`/`config.tgt_lang`, written by the Hub export)
      rejects another pair with a `ValueError`;
    - otherwise they are ignored: a model of this package translates the one direction it was trained on.
    """

    return_name = "translation"

    def _sanitize_parameters(self, src_lang=None, tgt_lang=None, task=None, **kwargs):
        preprocess_params, forward_params, postprocess_params = super()._sanitize_parameters(**kwargs)
        match = _TRANSLATION_TASK.match(task or self.task or "")
        if match:
            src_lang = src_lang or match.group(1)
            tgt_lang = tgt_lang or match.group(2)
        if src_lang is not None:
            preprocess_params["src_lang"] = src_lang
        if tgt_lang is not None:
            preprocess_params["tgt_lang"] = tgt_lang
        return preprocess_params, forward_params, postprocess_params

    def preprocess(self, inputs, truncation=False, prefix=None, src_lang=None, tgt_lang=None, **kwargs):
        config = self.model.config
        for name, value in (("src_lang", src_lang), ("tgt_lang", tgt_lang)):
            expected = getattr(config, name, None)
            if value is not None and expected is not None and value != expected:
                raise ValueError(
                    f"{name}={value!r} but this model translates {getattr(config, 'src_lang', '?')} -> "
                    f"{getattr(config, 'tgt_lang', '?')} (config.{name}={expected!r})"
                )
        for name, value in (("src_lang", src_lang), ("tgt_lang", tgt_lang)):
            if value is not None and hasattr(self.tokenizer, name):
                setattr(self.tokenizer, name, value)
        prefix = self._input_prefix(prefix)
        if "{src_lang}" in prefix or "{tgt_lang}" in prefix:
            src_lang = src_lang or getattr(config, "src_lang", None)
            tgt_lang = tgt_lang or getattr(config, "tgt_lang", None)
            if src_lang is None or tgt_lang is None:
                raise ValueError(f"the prefix {prefix!r} needs src_lang and tgt_lang")
            prefix = prefix.replace("{src_lang}", src_lang).replace("{tgt_lang}", tgt_lang)
        return super().preprocess(inputs, truncation=truncation, prefix=prefix)


# Task name -> pipeline class. Each is also registered as "tobigs-<task>".
SEQ2SEQ_PIPELINES = {
    "text2text-generation": TobigsText2TextGenerationPipeline,
    "summarization": TobigsSummarizationPipeline,
    "translation": TobigsTranslationPipeline,
}
TASK_NAME_PREFIX = "tobigs-"


def seq2seq_task_names(src_lang: str | None = None, tgt_lang: str | None = None) -> dict[str, type]:
    """Every task name the seq2seq pipelines answer to (built-in names, `tobigs-*` names and, given a language pair,
    `translation_<src>_to_<tgt>`), with its pipeline class."""
    names = {}
    for task, pipeline_class in SEQ2SEQ_PIPELINES.items():
        names[task] = pipeline_class
        names[TASK_NAME_PREFIX + task] = pipeline_class
    if src_lang and tgt_lang:
        names[f"translation_{src_lang}_to_{tgt_lang}"] = TobigsTranslationPipeline
    return names


def custom_pipelines_config(src_lang: str | None = None, tgt_lang: str | None = None) -> dict[str, dict]:
    """The `custom_pipelines` entry of a saved encoder-decoder config: every seq2seq task name -> this file."""
    module = __name__.rsplit(".", 1)[-1]  # "pipeline_tobigs", also when loaded as transformers_modules.<...>
    return {
        task: {"impl": f"{module}.{pipeline_class.__name__}", "pt": ["AutoModelForSeq2SeqLM"], "type": "text"}
        for task, pipeline_class in seq2seq_task_names(src_lang, tgt_lang).items()
    }


def register_pipelines() -> None:
    """Make `pipeline("translation" | "translation_xx_to_yy" | "summarization" | "text2text-generation" |
    "tobigs-<task>", model=...)` build the pipelines above. Idempotent.

    transformers v5 lists the three built-in names in `REMOVED_TASKS` and raises a `KeyError` for them before it
    looks at the registry; registration takes them out of that list (only these three: `question-answering` etc.
    stay removed) and teaches the registry the `translation_xx_to_yy` form, which v5 no longer parses.
    """
    from transformers import pipelines as hf_pipelines

    registry = hf_pipelines.PIPELINE_REGISTRY
    for task, pipeline_class in seq2seq_task_names().items():
        hf_pipelines.REMOVED_TASKS.pop(task, None)
        current = registry.supported_tasks.get(task)
        if current is not None and current.get("impl") is pipeline_class:
            continue
        registry.register_pipeline(task, pipeline_class=pipeline_class, pt_model=AutoModelForSeq2SeqLM, type="text")

    if not getattr(registry.check_task, "_tobigs_translation_pairs", False):
        original_check_task = registry.check_task

        def check_task(task: str):
            match = _TRANSLATION_TASK.match(task) if isinstance(task, str) else None
            if match and task not in registry.supported_tasks and "translation" in registry.supported_tasks:
                return "translation", registry.supported_tasks["translation"], (match.group(1), match.group(2))
            return original_check_task(task)

        check_task._tobigs_translation_pairs = True
        registry.check_task = check_task


__all__ = [
    "TobigsText2TextGenerationPipeline",
    "TobigsSummarizationPipeline",
    "TobigsTranslationPipeline",
    "SEQ2SEQ_PIPELINES",
    "custom_pipelines_config",
    "register_pipelines",
    "seq2seq_task_names",
]
