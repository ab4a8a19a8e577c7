"""torch.export and ONNX export of each architecture's main forward (the "works with" table of issue 18).

One model per architecture (tests/tiny.py sizes, random weights): GPT-2's causal LM (decoder-only), BERT's masked LM
(encoder-only) and BART's conditional generation (encoder-decoder). Each is exported ONCE (module fixture) with
`torch.export.export`, a dynamic batch and dynamic lengths (`torch.export.Dim`), and traced on a (2, 7) batch; the
tests then run the exported program, and the ONNX model made from it (`torch.onnx.export(..., dynamo=True)`, run by
onnxruntime), on inputs of other shapes, padded ones included, against the eager model.

The eager forward checks token ids and mask values against the vocabulary and {0, 1} with one host sync; those checks
read tensor values and are skipped while tracing (as under torch.compile), so an exported graph has none of them.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch.export import Dim

from tiny import tiny_config
from tobigs_transformer import (
    TobigsForCausalLM,
    TobigsForConditionalGeneration,
    TobigsForMaskedLM,
    TobigsForSequenceClassification,
)

TRACED = (2, 7)  # (batch, length) the programs are traced on
# Other shapes than the traced one: larger, and the smallest (a single token, where 0/1 specialisation would show).
SHAPES = [(3, 11), (1, 1), (4, 2)]
PADDING = 3  # tokens of padding in the second row whenever the length allows it

CASES = {
    # architecture: (model class, preset, (per-token inputs), constant keyword arguments)
    "decoder-only": (TobigsForCausalLM, "gpt2", ("input_ids", "attention_mask"), {"use_cache": False}),
    "encoder-only": (TobigsForMaskedLM, "bert-base", ("input_ids", "attention_mask", "token_type_ids"), {}),
    "encoder-decoder": (TobigsForConditionalGeneration, "bart-base", ("input_ids", "attention_mask",
                                                                       "decoder_input_ids"), {"use_cache": False}),
}


def randomize_(model: torch.nn.Module) -> torch.nn.Module:
    """Weights far from the 0.02-std initialisation, so that logits are O(1) and an export that drops or reorders
    an operation (a LayerNorm, a bias, the padding mask) changes them by far more than the tolerance."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.normal_(0.0, 0.2 if param.dim() > 1 else 0.5)
            if "norm" in name and name.endswith("weight"):
                param.add_(1.0)
    return model


def make_inputs(architecture: str, batch: int, length: int, target_length: int | None = None) -> dict:
    """Random ids away from the special ones; the second row padded on the left (decoder-only, as for generation)
    or on the right (encoders), when there is a second row and room for padding."""
    _, _, names, constants = CASES[architecture]
    ids = torch.randint(3, 98, (batch, length))
    mask = torch.ones_like(ids)
    if batch > 1 and length > PADDING:
        if architecture == "decoder-only":
            mask[1, :PADDING] = 0
        else:
            mask[1, -PADDING:] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in names:
        inputs["token_type_ids"] = (torch.arange(length) >= length // 2).long().expand(batch, length).contiguous()
    if "decoder_input_ids" in names:
        inputs["decoder_input_ids"] = torch.randint(3, 98, (batch, target_length or max(length - 2, 1)))
    return {**inputs, **constants}


def dynamic_shapes(architecture: str) -> dict:
    """Batch and lengths free (the length from a single token to max_position_embeddings); the source and target
    lengths of the encoder-decoder independent of each other."""
    _, _, names, constants = CASES[architecture]
    batch = Dim("batch", min=1, max=64)
    length = Dim("length", min=1, max=64)
    shapes = {name: {0: batch, 1: length} for name in names}
    if "decoder_input_ids" in names:
        shapes["decoder_input_ids"] = {0: batch, 1: Dim("target_length", min=1, max=64)}
    return {**shapes, **{name: None for name in constants}}


@pytest.fixture(scope="module")
def exported():
    """architecture -> (eager model, exported program), each traced once on a (2, 7) batch."""
    torch.manual_seed(0)
    programs = {}
    for architecture, (model_class, preset, _, _) in CASES.items():
        model = randomize_(model_class(tiny_config(preset))).eval()
        with torch.no_grad():
            program = torch.export.export(model, (), make_inputs(architecture, *TRACED),
                                          dynamic_shapes=dynamic_shapes(architecture))
        programs[architecture] = (model, program)
    return programs


def tensors(output) -> dict:
    """The tensors of a ModelOutput (the exported program returns the same class), by name."""
    return {name: value for name, value in output.items() if isinstance(value, torch.Tensor)}


@pytest.mark.parametrize("architecture", list(CASES))
def test_torch_export_has_dynamic_batch_and_lengths(exported, architecture):
    _, program = exported[architecture]
    _, _, names, _ = CASES[architecture]
    placeholders = {node.name: node.meta["val"].shape for node in program.graph.nodes
                    if node.op == "placeholder" and node.name in names}
    assert set(placeholders) == set(names)
    for name, shape in placeholders.items():
        assert all(isinstance(size, torch.SymInt) for size in shape), f"{name} was specialised to {tuple(shape)}"
    # one batch symbol shared by every input; the encoder-decoder's target length is its own symbol
    assert len({str(shape[0]) for shape in placeholders.values()}) == 1
    lengths = {str(shape[1]) for shape in placeholders.values()}
    assert len(lengths) == (2 if "decoder_input_ids" in names else 1)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("architecture", list(CASES))
def test_torch_export_matches_eager_on_other_shapes(exported, architecture, shape):
    model, program = exported[architecture]
    inputs = make_inputs(architecture, *shape)
    with torch.no_grad():
        expected = tensors(model(**inputs))
        got = tensors(program.module()(**inputs))
    assert set(got) == set(expected) and "logits" in got
    for name, value in expected.items():
        assert got[name].shape == value.shape, name
        assert (got[name] - value).abs().max().item() < 1e-5, name
    assert expected["logits"].abs().max().item() > 1.0  # the comparison is not one of near-zero numbers


def test_exported_program_has_no_value_checks(exported):
    """The vocabulary check is eager-only: the exported graph carries no host sync and no assertion on values (an
    out-of-range id is then a kernel's index error, as under torch.compile), while eager mode names the bad id."""
    model, program = exported["decoder-only"]
    inputs = make_inputs("decoder-only", 2, 5)
    inputs["input_ids"][0, 1] = 99
    with pytest.raises(ValueError, match=r"input_ids contains 99"):
        model(**inputs)
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert not any("_assert_async" in t or "local_scalar_dense" in t for t in targets), sorted(targets)
    with pytest.raises(IndexError, match="index out of range"):
        program.module()(**inputs)


def test_encoder_decoder_classifier_exports_down_to_one_token():
    """BART's classifier feeds the decoder the source shifted right (`shift_tokens_right`, no decoder_input_ids):
    the shift must not guard the dynamic length away from 1 and 2 (a copy into `shifted[:, 1:]` did)."""
    config = tiny_config("bart-base", num_labels=3)
    model = randomize_(TobigsForSequenceClassification(config)).eval()
    batch, length = Dim("batch", min=1, max=64), Dim("length", min=1, max=64)

    def inputs(rows, columns):
        ids = torch.randint(3, 98, (rows, columns))
        ids[:, -1] = config.eos_token_id  # the classifier reads the decoder state at the last EOS
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    with torch.no_grad():
        program = torch.export.export(model, (), inputs(*TRACED), dynamic_shapes={
            "input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}})
        for shape in [(1, 1), (3, 2), (2, 12)]:
            given = inputs(*shape)
            difference = (program.module()(**given).logits - model(**given).logits).abs().max().item()
            assert difference < 1e-5, shape


# ---------------------------------------------------------------------------------------------------------------
# ONNX: the exported programs above, translated by torch.onnx's dynamo exporter and run by onnxruntime.
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_sessions(exported, tmp_path_factory):
    """architecture -> (eager model, onnxruntime session, output names)."""
    pytest.importorskip("onnx", reason="ONNX export needs the onnx package (pip install tobigs-transformer[onnx])")
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs the onnxscript package")
    ort = pytest.importorskip("onnxruntime", reason="running the ONNX models needs the onnxruntime package")
    root = tmp_path_factory.mktemp("onnx")
    sessions = {}
    for architecture, (model, program) in exported.items():
        # The program returns a ModelOutput: its field names (logits, encoder_last_hidden_state) name the outputs.
        output_names = list(program.call_spec.out_spec.context)
        onnx_program = torch.onnx.export(program, dynamo=True, output_names=output_names, verbose=False)
        path = root / f"{architecture}.onnx"
        onnx_program.save(str(path))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        sessions[architecture] = (model, session, output_names)
    return sessions


@pytest.mark.parametrize("architecture", list(CASES))
def test_onnx_inputs_are_named_and_dynamic(onnx_sessions, architecture):
    _, session, output_names = onnx_sessions[architecture]
    _, _, names, _ = CASES[architecture]
    inputs = {node.name: node.shape for node in session.get_inputs()}
    assert list(inputs) == list(names)  # the constant keyword arguments (use_cache=False) are no inputs
    assert all(isinstance(size, str) for shape in inputs.values() for size in shape), inputs
    assert [node.name for node in session.get_outputs()] == output_names
    assert output_names[0] == "logits"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("architecture", list(CASES))
def test_onnx_runtime_matches_eager_on_other_shapes(onnx_sessions, architecture, shape):
    """Compared at real tokens: a query position that may attend to nothing (a left-padded position of a causal
    model) gets 0 from torch's attention kernel but the mean of the values in the ONNX graph; its output is padding
    either way."""
    model, session, output_names = onnx_sessions[architecture]
    inputs = make_inputs(architecture, *shape)
    feeds = {node.name: inputs[node.name].numpy() for node in session.get_inputs()}
    got = dict(zip(output_names, session.run(None, feeds)))
    with torch.no_grad():
        expected = tensors(model(**inputs))
    assert set(got) <= set(expected)
    real = inputs["attention_mask"].bool()  # (B, T): the source tokens, and the decoder-only model's tokens
    for name, value in got.items():
        reference = expected[name]
        assert value.shape == tuple(reference.shape), name
        difference = (torch.from_numpy(value) - reference).abs()
        if not (architecture == "encoder-decoder" and name == "logits"):  # decoder positions: all real
            difference = difference[real]
        assert difference.max().item() < 1e-4, name


def test_transformer_xl_relative_attention_exports_to_onnx(tmp_path):
    """Transformer-XL's relative attention (its own sdpa call) through both exporters: its output reshape must be a
    real copy, or the ONNX decomposition rejects the view torch.export recorded ("Cannot view a tensor ...")."""
    ort = pytest.importorskip("onnxruntime", reason="running the ONNX models needs the onnxruntime package")
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs the onnxscript package")
    model = randomize_(TobigsForCausalLM(tiny_config("transformer-xl"))).eval()
    with torch.no_grad():
        program = torch.export.export(model, (), make_inputs("decoder-only", *TRACED),
                                      dynamic_shapes=dynamic_shapes("decoder-only"))
    torch.onnx.export(program, dynamo=True, output_names=["logits"], verbose=False).save(str(tmp_path / "xl.onnx"))
    session = ort.InferenceSession(str(tmp_path / "xl.onnx"), providers=["CPUExecutionProvider"])
    inputs = make_inputs("decoder-only", 3, 11)
    with torch.no_grad():
        expected = model(**inputs).logits
        assert (program.module()(**inputs).logits - expected).abs().max().item() < 1e-5
    got = torch.from_numpy(session.run(None, {n: inputs[n].numpy() for n in ("input_ids", "attention_mask")})[0])
    assert (got - expected)[inputs["attention_mask"].bool()].abs().max().item() < 1e-4


# ---------------------------------------------------------------------------------------------------------------
# A saved folder loaded as remote code (package not importable), exported the same way.
# ---------------------------------------------------------------------------------------------------------------

REMOTE_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.modules["tobigs_transformer"] = None  # `import tobigs_transformer` raises ImportError from here on
    import torch
    from torch.export import Dim
    from transformers import AutoModelForCausalLM

    folder, inputs_file, out_file = sys.argv[1:]
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
    traced, other = torch.load(inputs_file)
    batch, length = Dim("batch", min=1, max=64), Dim("length", min=1, max=64)
    with torch.no_grad():
        program = torch.export.export(model, (), {**traced, "use_cache": False}, dynamic_shapes={
            "input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}, "use_cache": None})
        exported = program.module()(**other, use_cache=False).logits
        eager = model(**other, use_cache=False).logits
    result = {"class": type(model).__module__ + "." + type(model).__name__, "exported": exported.tolist(),
              "eager": eager.tolist(), "onnx": None}
    try:
        import onnxruntime, onnxscript  # noqa: F401 - the ONNX step runs where the parent's ONNX tests run
    except ImportError:
        pass
    else:
        onnx_program = torch.onnx.export(program, dynamo=True, output_names=["logits"], verbose=False)
        onnx_program.save(folder + "/model.onnx")
        session = onnxruntime.InferenceSession(folder + "/model.onnx", providers=["CPUExecutionProvider"])
        result["onnx"] = session.run(None, {name: value.numpy() for name, value in other.items()})[0].tolist()
    result["modules"] = sorted(m for m in sys.modules if "tobigs" in m and sys.modules[m] is not None)
    with open(out_file, "w") as f:
        json.dump(result, f)
""")


@pytest.mark.slow
def test_remote_code_folder_exports_without_the_package(tmp_path):
    """transformers' way in: `AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)` in an interpreter
    that cannot import tobigs_transformer, then `torch.export` with dynamic shapes and (where installed) ONNX through
    onnxruntime, as with the installed package."""
    model = randomize_(TobigsForCausalLM(tiny_config("gpt2"))).eval()
    folder = tmp_path / "gpt2"
    model.save_pretrained(folder)
    traced, other = make_inputs("decoder-only", *TRACED), make_inputs("decoder-only", 3, 11)
    for inputs in (traced, other):
        inputs.pop("use_cache")
    torch.save((traced, other), tmp_path / "inputs.pt")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "hf_modules"), HF_HOME=str(tmp_path / "hf_home"),
               TRANSFORMERS_VERBOSITY="error", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", REMOTE_SCRIPT, str(folder), str(tmp_path / "inputs.pt"),
                           str(tmp_path / "out.json")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    result = json.loads(Path(tmp_path / "out.json").read_text())
    assert result["class"].startswith("transformers_modules.") and result["class"].endswith(".TobigsForCausalLM")
    assert result["modules"] and all(m.startswith("transformers_modules.") for m in result["modules"])
    with torch.no_grad():
        installed = model(**other, use_cache=False).logits
    assert (torch.tensor(result["exported"]) - torch.tensor(result["eager"])).abs().max().item() < 1e-5
    assert (torch.tensor(result["exported"]) - installed).abs().max().item() < 1e-5
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        assert result["onnx"] is None
    else:  # real tokens only (see test_onnx_runtime_matches_eager_on_other_shapes)
        real = other["attention_mask"].bool()
        assert (torch.tensor(result["onnx"]) - installed)[real].abs().max().item() < 1e-4
