"""transformers' own common model tests (ModelTesterMixin, GenerationTesterMixin, PipelineTesterMixin, ConfigTester)
over every architecture: the checks transformers runs on each of its models, run on ours.

The mixins are transformers' test code, not part of its wheel, so they are read from a transformers source tree named
by the environment variable TRANSFORMERS_TESTS_DIR (its root, holding `tests/test_modeling_common.py`); the
version should match the installed transformers. The source distribution has it:

    VERSION=$(python -c "import transformers; print(transformers.__version__)")
    pip download --no-deps --no-binary :all: "transformers==$VERSION" -d DIR
    tar -xzf "DIR/transformers-$VERSION.tar.gz" -C DIR   # then TRANSFORMERS_TESTS_DIR=DIR/transformers-$VERSION

and the mixins import `parameterized` (pip install parameterized). Without the variable, the files or that package,
the module is skipped with a message saying what is missing. The source distribution ships neither
`tests/generation/test_utils.py` (GenerationTesterMixin) nor `tests/exporters/test_export.py` (ExportTesterMixin,
transformers-slow export tests only) nor `tests/utils/` (ConfigTester's `test_configuration_utils.py`,
PipelineTesterMixin's `tiny_model_summary.json`): those are then replaced by empty stand-ins, named in a logged
warning, so that the modeling part still runs; a git checkout of the same version runs everything. (The pipeline
tests load the tiny checkpoints that `tiny_model_summary.json` lists, or TRANSFORMERS_TINY_MODEL_PATH holds; ours are
in neither, so transformers skips them with its own reason; tests/model/test_pipeline_installed.py and tests/interop/test_pipeline_remote.py test our pipelines.)

Our testers are written here, on the pattern of transformers' own `tests/models/*/test_modeling_*.py`: one per
preset family and variant, on the tiny sizes of tests/tiny.py. A common test that does not apply to our design is
skipped in its class with a one-line reason, as transformers' model test files do.
"""

import importlib
import logging
import os
import sys
import types
import unittest
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

logger = logging.getLogger(__name__)

ENV = "TRANSFORMERS_TESTS_DIR"
# transformers' tests/ is imported as this package, not as `tests`, which would clash with this project's tests/.
PACKAGE = "transformers_common_tests"
# Mixins whose file may be missing (not in the source distribution), replaced by empty stand-ins then.
OPTIONAL_MIXINS = {
    "GenerationTesterMixin": "generation/test_utils.py",
    "ExportTesterMixin": "exporters/test_export.py",
}


class Common(types.SimpleNamespace):
    """What was loaded from transformers' tests: the modules and mixins, and the names replaced by stand-ins."""


def _missing(reason: str) -> None:
    pytest.skip(f"transformers' common model tests not run: {reason}", allow_module_level=True)


def _stand_in(module_name: str, class_name: str) -> None:
    """Register an empty mixin as `module_name.class_name` (and its parent package if its folder is missing)."""
    parent_name = module_name.rsplit(".", 1)[0]
    if parent_name not in sys.modules:
        try:
            importlib.import_module(parent_name)
        except ImportError:
            parent = types.ModuleType(parent_name)
            parent.__path__ = []
            sys.modules[parent_name] = parent
    module = types.ModuleType(module_name)
    setattr(module, class_name, type(class_name, (), {"__doc__": "stand-in: transformers' file is missing"}))
    sys.modules[module_name] = module


def load_common_tests() -> Common:
    root = os.environ.get(ENV)
    if not root:
        _missing(f"set {ENV} to the root of a transformers source tree of the installed version (it needs "
                 "tests/test_modeling_common.py), see this module's docstring")
    tests_dir = Path(root).expanduser() / "tests"
    if not (tests_dir / "test_modeling_common.py").is_file():
        _missing(f"{ENV}={root!r} has no tests/test_modeling_common.py")
    try:
        import parameterized  # noqa: F401  (transformers' mixins import it)
    except ImportError:
        _missing("transformers' test mixins import `parameterized`: pip install parameterized")
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(tests_dir)]
    sys.modules[PACKAGE] = package
    stand_ins = []
    for class_name, path in OPTIONAL_MIXINS.items():
        if not (tests_dir / path).is_file():
            _stand_in(f"{PACKAGE}.{path[:-3].replace('/', '.')}", class_name)
            stand_ins.append(f"{class_name} ({path} is missing)")
    modeling = importlib.import_module(f"{PACKAGE}.test_modeling_common")
    generation = importlib.import_module(f"{PACKAGE}.generation.test_utils")
    config_tester = pipeline_mixin = None
    if (tests_dir / "utils" / "test_configuration_utils.py").is_file():
        config_tester = importlib.import_module(f"{PACKAGE}.test_configuration_common").ConfigTester
    else:
        stand_ins.append("ConfigTester (utils/test_configuration_utils.py is missing)")
    summary = os.environ.get("TRANSFORMERS_TINY_MODEL_PATH")
    summary = Path(summary) / "reports" if summary else tests_dir / "utils"
    if (summary / "tiny_model_summary.json").is_file():
        installed = sys.modules["transformers"]
        try:
            pipeline_mixin = importlib.import_module(f"{PACKAGE}.test_pipeline_mixin").PipelineTesterMixin
        finally:
            # It runs the source tree's transformers/__init__.py (to look classes up by name), which puts a second
            # `transformers` module in sys.modules; the rest of the test session keeps the installed one.
            sys.modules["transformers"] = installed
    else:
        stand_ins.append(f"PipelineTesterMixin ({summary / 'tiny_model_summary.json'} is missing)")
    if stand_ins:
        logger.warning("transformers' common tests: replaced by empty stand-ins: %s", "; ".join(stand_ins))
    return Common(
        modeling=modeling,
        ModelTesterMixin=modeling.ModelTesterMixin,
        GenerationTesterMixin=generation.GenerationTesterMixin,
        PipelineTesterMixin=pipeline_mixin or type("PipelineTesterMixin", (), {}),
        ConfigTester=config_tester,
        stand_ins=stand_ins,
    )


hf = load_common_tests()

import tobigs_transformer as tt  # noqa: E402
from tiny import TINY, TINY_SPECIAL  # noqa: E402


def _register_class_names() -> None:
    """transformers' common tests decide labels, training and more from the class *names* of its Auto mappings
    (`get_values(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)`); add ours under our model_type, as a model inside transformers
    has them. Only the copies bound in the test module change, not transformers' own mappings."""
    for auto_class, model_class in tt.AUTO_CLASSES.items():
        names = auto_class._model_mapping._model_mapping
        for attribute, value in vars(hf.modeling).items():
            if value is names:
                ours = {tt.TobigsConfig.model_type: model_class.__name__}
                setattr(hf.modeling, attribute, type(names)({**names, **ours}))


_register_class_names()
ids_tensor = hf.modeling.ids_tensor
random_attention_mask = hf.modeling.random_attention_mask


# Special ids below 3, as transformers' testers have them: the common tests shrink vocab_size to 4 and to 10 on a copy
# of the config, and our config rejects ids outside the vocabulary (GPT's real end-of-text id is the last one).
# CTRL has no padding token; transformers' padding tests need one.
SMALL_IDS = {
    "gpt": dict(bos_token_id=1, eos_token_id=1),
    "marian": dict(pad_token_id=2, decoder_start_token_id=2),
    "ctrl": dict(pad_token_id=0),
}


class TobigsModelTester:
    """Config and inputs for one architecture, at the sizes of transformers' testers (tests/tiny.py)."""

    def __init__(self, parent, preset: str, batch_size: int = 13, seq_length: int = 7, num_choices: int = 4,
                 **overrides):
        self.parent = parent
        self.preset = preset
        self.overrides = overrides
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.num_choices = num_choices
        self.is_training = True
        config = self.get_config()
        self.vocab_size = config.vocab_size
        self.hidden_size = config.d_model
        decoder_only = config.architecture == "decoder-only"
        self.num_hidden_layers = config.decoder_layers if decoder_only else config.encoder_layers
        self.num_attention_heads = config.encoder_attention_heads
        self.pad_token_id = config.pad_token_id
        self.architecture = config.architecture
        self.type_vocab_size = config.type_vocab_size

    def get_config(self) -> "tt.TobigsConfig":
        family = next(f for f in TINY_SPECIAL if self.preset.startswith(f))
        special = {**TINY_SPECIAL[family], **SMALL_IDS.get(family, {})}
        return tt.TobigsConfig.from_preset(self.preset, **{**TINY, **special, **self.overrides})

    def prepare_config_and_inputs(self):
        config = self.get_config()
        # Ids above the special ones, so that no pad/eos falls inside by chance.
        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size - 4) + 3
        inputs = {"input_ids": input_ids, "attention_mask": random_attention_mask([self.batch_size, self.seq_length])}
        if self.type_vocab_size:
            inputs["token_type_ids"] = ids_tensor([self.batch_size, self.seq_length], self.type_vocab_size)
        if self.architecture == "encoder-decoder":
            inputs["decoder_input_ids"] = ids_tensor([self.batch_size, self.seq_length], self.vocab_size - 4) + 3
            inputs["decoder_attention_mask"] = torch.ones_like(inputs["decoder_input_ids"])
        return config, inputs

    def prepare_config_and_inputs_for_common(self):
        return self.prepare_config_and_inputs()


class TobigsCommonTests(hf.ModelTesterMixin, hf.PipelineTesterMixin):
    """What every architecture's test class shares; the subclasses name the preset and the classes (and add
    GenerationTesterMixin where a class generates: transformers checks that exactly those testers have it)."""

    preset: str = ""
    overrides: dict = {}
    config_kwargs: dict = {}

    def setUp(self):
        self.model_tester = TobigsModelTester(self, self.preset, **self.overrides)
        if hf.ConfigTester is not None:
            self.config_tester = hf.ConfigTester(self, config_class=tt.TobigsConfig, **self.config_kwargs)

    def test_config(self):
        if hf.ConfigTester is None:
            self.skipTest(reason="ConfigTester needs transformers' tests/utils/test_configuration_utils.py")
        self.config_tester.run_common_tests()

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs_dict = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels and model_class in (tt.TobigsForPreTraining, tt.TobigsElectraForPreTraining,
                                             tt.TobigsForReplacedTokenDetection):
            shape = (self.model_tester.batch_size, self.model_tester.seq_length)
            inputs_dict["labels"] = torch.zeros(shape, dtype=torch.long)
            if model_class is tt.TobigsForPreTraining:
                inputs_dict["next_sentence_label"] = torch.zeros(self.model_tester.batch_size, dtype=torch.long)
        return inputs_dict


# ---- one base per architecture (not collected), then one test class per preset family and variant -------------------


class DecoderOnlyTests(TobigsCommonTests):
    """Decoder-only: the causal LM and the heads that read the decoder."""

    all_model_classes = (tt.TobigsModel, tt.TobigsForCausalLM, tt.TobigsForSequenceClassification,
                         tt.TobigsForTokenClassification, tt.TobigsForQuestionAnswering)
    pipeline_model_mapping = {
        "feature-extraction": tt.TobigsModel,
        "text-generation": tt.TobigsForCausalLM,
        "text-classification": tt.TobigsForSequenceClassification,
        "token-classification": tt.TobigsForTokenClassification,
        "question-answering": tt.TobigsForQuestionAnswering,
        "zero-shot": tt.TobigsForSequenceClassification,
    }
    config_kwargs = dict(architecture="decoder-only", d_model=32, decoder_layers=2, decoder_attention_heads=4,
                         decoder_ffn_dim=37, vocab_size=99)


class EncoderOnlyTests(TobigsCommonTests):
    """Encoder-only: every encoder head."""

    all_model_classes = (tt.TobigsModel, tt.TobigsForMaskedLM, tt.TobigsForPreTraining,
                         tt.TobigsForNextSentencePrediction, tt.TobigsForSequenceClassification,
                         tt.TobigsForTokenClassification, tt.TobigsForQuestionAnswering, tt.TobigsForMultipleChoice,
                         tt.TobigsForReplacedTokenDetection)
    pipeline_model_mapping = {
        "feature-extraction": tt.TobigsModel,
        "fill-mask": tt.TobigsForMaskedLM,
        "text-classification": tt.TobigsForSequenceClassification,
        "token-classification": tt.TobigsForTokenClassification,
        "question-answering": tt.TobigsForQuestionAnswering,
        "zero-shot": tt.TobigsForSequenceClassification,
    }
    config_kwargs = dict(architecture="encoder-only", d_model=32, encoder_layers=2, encoder_attention_heads=4,
                         encoder_ffn_dim=37, vocab_size=99)


class EncoderDecoderTests(TobigsCommonTests):
    """Encoder-decoder: the seq2seq LM, the sequence classifier and the bare model."""

    is_encoder_decoder = True
    all_model_classes = (tt.TobigsModel, tt.TobigsForConditionalGeneration, tt.TobigsForSequenceClassification)
    pipeline_model_mapping = {
        "feature-extraction": tt.TobigsModel,
        "summarization": tt.TobigsForConditionalGeneration,
        "text2text-generation": tt.TobigsForConditionalGeneration,
        "translation": tt.TobigsForConditionalGeneration,
        "text-classification": tt.TobigsForSequenceClassification,
    }
    config_kwargs = dict(architecture="encoder-decoder", d_model=32, encoder_layers=2, decoder_layers=2,
                         encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
                         decoder_ffn_dim=37, vocab_size=99)


class TobigsGPT2ModelTest(DecoderOnlyTests, hf.GenerationTesterMixin, unittest.TestCase):
    """GPT-2: pre-LN, learned positions, GELU."""

    preset = "gpt2"


class TobigsGPTModelTest(DecoderOnlyTests, hf.GenerationTesterMixin, unittest.TestCase):
    """GPT: post-LN."""

    preset = "gpt"


class TobigsCTRLModelTest(DecoderOnlyTests, hf.GenerationTesterMixin, unittest.TestCase):
    """CTRL: sinusoidal positions, scaled embeddings."""

    preset = "ctrl"


class TobigsRotaryModelTest(DecoderOnlyTests, hf.GenerationTesterMixin, unittest.TestCase):
    """GPT-2 with rotary positions (RoFormer) inside attention."""

    preset = "gpt2"
    overrides = dict(position_embedding_type="rotary")


class TobigsTransformerXLModelTest(DecoderOnlyTests, hf.GenerationTesterMixin, unittest.TestCase):
    """Transformer-XL: relative positions and the segment memory (`mems`)."""

    preset = "transformer-xl"
    overrides = dict(mem_len=8)

    @unittest.skip(reason="relative positions take one sequence per row: packed rows raise a ValueError by design")
    def test_eager_padding_matches_padding_free_with_position_ids(self):
        pass

    @unittest.skip(reason="relative positions take one sequence per row: packed rows raise a ValueError by design")
    def test_sdpa_padding_matches_padding_free_with_position_ids(self):
        pass


class TobigsBertModelTest(EncoderOnlyTests, unittest.TestCase):
    """BERT: post-LN, learned positions and segments, the pooler."""

    preset = "bert-base"


class TobigsRobertaModelTest(EncoderOnlyTests, unittest.TestCase):
    """RoBERTa: positions counted past the padding (fairseq's), the dense-tanh classifier."""

    preset = "roberta-base"


class TobigsAlbertModelTest(EncoderOnlyTests, unittest.TestCase):
    """ALBERT: factorized embeddings and cross-layer sharing."""

    preset = "albert-base"
    overrides = dict(embedding_size=16)


class TobigsElectraModelTest(EncoderOnlyTests, unittest.TestCase):
    """ELECTRA-Small: factorized embeddings, no pooler, every encoder head. Not TobigsElectraForPreTraining: its
    forward needs the MLM labels (they say which positions the generator fills), which the common tests do not pass;
    tests/model/test_variants_electra.py covers it."""

    preset = "electra-small"
    overrides = dict(embedding_size=16)


class TobigsBartModelTest(EncoderDecoderTests, hf.GenerationTesterMixin, unittest.TestCase):
    """BART: post-LN, learned positions with BART's offset, LayerNorm on the embeddings."""

    preset = "bart-base"


class TobigsTransformerModelTest(EncoderDecoderTests, hf.GenerationTesterMixin, unittest.TestCase):
    """The original Transformer (Vaswani et al. 2017): sinusoidal positions, xavier initialisation."""

    preset = "transformer-base"
    # The paper's label smoothing (0.1) off: test_encoder_decoder_loss_no_double_shift compares the loss with plain
    # cross-entropy against the labels (label smoothing is tested in tests/model/test_model_training.py).
    overrides = dict(label_smoothing=0.0)


class TobigsMarianModelTest(EncoderDecoderTests, hf.GenerationTesterMixin, unittest.TestCase):
    """Marian: concatenated sinusoids, swish, the final-logits bias."""

    preset = "marian"


class TobigsPegasusModelTest(EncoderDecoderTests, hf.GenerationTesterMixin, unittest.TestCase):
    """Pegasus: pre-LN encoder-decoder with sinusoidal positions."""

    preset = "pegasus-large"
