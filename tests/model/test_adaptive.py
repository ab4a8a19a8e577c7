"""Adaptive input (Baevski & Auli 2019) and adaptive softmax (Grave et al. 2017) as Transformer-XL uses them
(`model/adaptive.py`): checked against a two-level softmax written from the definition, against
torch.nn.AdaptiveLogSoftmaxWithLoss with mapped weights, and through the causal LM (loss, ties, save/load, generate,
Transformer-XL memory)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from tiny import tiny_config
from torch.nn import functional as F

from tobigs_transformer import TobigsForCausalLM
from tobigs_transformer.model.adaptive import AdaptiveEmbedding, ProjectedAdaptiveLogSoftmax, cluster_bounds

VOCAB, CUTOFFS = 99, [20, 50]
# (d_embed, d_model, div_val): narrowing clusters; one table with a projection (div_val=1, d_embed != d_model);
# one table without (the clusters are slices of the full softmax's matrix).
SHAPES = [(16, 12, 2), (8, 12, 1), (12, 12, 1)]


def filled(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter random (biases included, so that they are tested), float64."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64) * 0.5)
    return module.double()


def cluster_of(word: int) -> tuple[int, int]:
    """(cluster index, start of that cluster) of a word id."""
    for i, (start, end) in enumerate(cluster_bounds(VOCAB, CUTOFFS)):
        if start <= word < end:
            return i, start
    raise AssertionError(word)


def definition_log_prob(softmax: ProjectedAdaptiveLogSoftmax, h: torch.Tensor, word: int) -> torch.Tensor:
    """log p(word | h) of the two-level softmax written out for one vector: the head's softmax over the shortlist
    and one logit per tail cluster (tail i at column -i, as the authors), then the tail's softmax."""
    def cluster_layer(i):
        proj = softmax.out_projs[i] if len(softmax.out_projs) else torch.eye(h.shape[0], dtype=h.dtype)
        if softmax.div_val == 1:
            start, end = cluster_bounds(VOCAB, CUTOFFS)[i]
            return proj, softmax.out_layers[0].weight[start:end], softmax.out_layers[0].bias[start:end]
        return proj, softmax.out_layers[i].weight, softmax.out_layers[i].bias

    proj0, weight0, bias0 = cluster_layer(0)
    head_logits = torch.cat([weight0 @ (h @ proj0) + bias0,
                             softmax.cluster_weight @ (h @ proj0) + softmax.cluster_bias])
    head = head_logits - torch.logsumexp(head_logits, 0)
    i, start = cluster_of(word)
    if i == 0:
        return head[word]
    proj, weight, bias = cluster_layer(i)
    tail_logits = weight @ (h @ proj) + bias
    return head[len(head) - i] + tail_logits[word - start] - torch.logsumexp(tail_logits, 0)


def adaptive_softmax(d_embed: int, d_model: int, div_val: int, seed: int = 0) -> ProjectedAdaptiveLogSoftmax:
    return filled(ProjectedAdaptiveLogSoftmax(VOCAB, d_embed, d_model, CUTOFFS, div_val), seed)


@pytest.mark.parametrize("d_embed, d_model, div_val", SHAPES)
def test_log_probs_equal_the_two_level_softmax_of_the_definition(d_embed, d_model, div_val):
    softmax = adaptive_softmax(d_embed, d_model, div_val)
    hidden = torch.randn(3, d_model, dtype=torch.float64)
    with torch.no_grad():
        log_probs = softmax(hidden)  # (3, VOCAB)
        expected = torch.tensor([[definition_log_prob(softmax, h, w) for w in range(VOCAB)] for h in hidden],
                                dtype=torch.float64)
    assert log_probs.shape == (3, VOCAB)
    assert (log_probs - expected).abs().max() < 1e-6
    # A distribution over the whole vocabulary.
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("d_embed, d_model, div_val", SHAPES)
def test_loss_is_the_nll_gathered_from_the_log_probs_and_skips_ignored_targets(d_embed, d_model, div_val):
    softmax = adaptive_softmax(d_embed, d_model, div_val)
    hidden = torch.randn(40, d_model, dtype=torch.float64)
    targets = torch.randint(0, VOCAB, (40,))
    targets[::7] = -100
    kept = targets != -100
    with torch.no_grad():
        gathered = -softmax(hidden[kept]).gather(1, targets[kept, None]).sum()
        for chunk_size in (0, 6):
            torch.testing.assert_close(softmax.loss_sum(hidden, targets, chunk_size), gathered, rtol=1e-12, atol=0)


def test_equals_torch_adaptive_log_softmax_with_loss_with_mapped_weights():
    """torch's AdaptiveLogSoftmaxWithLoss is the same function with: no head bias (head_bias=False), its head's
    cluster rows in the reverse order of `cluster_weight`, and tail i as Linear(in, in // div**i, no bias) then
    Linear(., cluster size, no bias): the first is our out_projs[i] transposed, the second our out_layers[i] (zero
    bias). Our head projection is the identity (d_embed = d_model)."""
    d, div = 16, 2
    torch.manual_seed(0)
    reference = torch.nn.AdaptiveLogSoftmaxWithLoss(d, VOCAB, CUTOFFS, div_value=float(div)).double()
    ours = ProjectedAdaptiveLogSoftmax(VOCAB, d, d, CUTOFFS, div).double()
    shortlist = CUTOFFS[0]
    with torch.no_grad():
        ours.out_projs[0].copy_(torch.eye(d, dtype=torch.float64))
        ours.out_layers[0].weight.copy_(reference.head.weight[:shortlist])
        ours.out_layers[0].bias.zero_()
        ours.cluster_weight.copy_(reference.head.weight[shortlist:].flip(0))  # tail i at head column -i
        ours.cluster_bias.zero_()
        for i, (down, out) in enumerate(reference.tail, start=1):
            ours.out_projs[i].copy_(down.weight.t())  # (d_emb_i, d) -> (d, d_emb_i), applied as h @ P
            ours.out_layers[i].weight.copy_(out.weight)
            ours.out_layers[i].bias.zero_()
    hidden = torch.randn(30, d, dtype=torch.float64)
    targets = torch.randint(0, VOCAB, (30,))
    with torch.no_grad():
        torch.testing.assert_close(ours(hidden), reference.log_prob(hidden), rtol=0, atol=1e-12)
        torch.testing.assert_close(ours.loss_sum(hidden, targets) / 30, reference(hidden, targets).loss,
                                   rtol=0, atol=1e-12)


def test_chunked_and_unchunked_loss_have_the_same_gradients():
    softmax = ProjectedAdaptiveLogSoftmax(VOCAB, 16, 12, CUTOFFS, 2)
    filled(softmax).float()
    hidden = torch.randn(37, 12, requires_grad=True)
    targets = torch.randint(0, VOCAB, (37,))
    targets[3] = -100
    gradients = []
    for chunk_size in (0, 5):
        softmax.zero_grad()
        hidden.grad = None
        softmax.loss_sum(hidden, targets, chunk_size).backward()
        gradients.append([hidden.grad.clone()] + [p.grad.clone() for p in softmax.parameters()])
    for unchunked, chunked in zip(*gradients):
        torch.testing.assert_close(chunked, unchunked, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("d_embed, d_model, div_val", SHAPES)
def test_adaptive_input_is_the_per_cluster_lookup_of_the_definition(d_embed, d_model, div_val):
    embedding = filled(AdaptiveEmbedding(VOCAB, d_embed, d_model, CUTOFFS, div_val))
    ids = torch.arange(VOCAB).reshape(9, 11)
    with torch.no_grad():
        out = embedding(ids)  # (9, 11, d_model)
    for word in range(VOCAB):
        i, start = cluster_of(word)
        if div_val == 1:
            vector = embedding.emb_layers[0].weight[word]
            vector = embedding.emb_projs[0] @ vector if len(embedding.emb_projs) else vector
        else:
            vector = embedding.emb_projs[i] @ embedding.emb_layers[i].weight[word - start]  # P_i E_i[w - c_i]
        torch.testing.assert_close(out.reshape(-1, d_model)[word], vector * d_model**0.5, rtol=1e-12, atol=1e-12)


# ---- through the causal LM ------------------------------------------------------------------------------------

ADAPTIVE = dict(adaptive_input=True, adaptive_softmax=True, cutoffs=CUTOFFS, div_val=2, dropout=0.0,
                attention_dropout=0.0, activation_dropout=0.0)


def lm(preset: str = "transformer-xl", seed: int = 0, **overrides) -> TobigsForCausalLM:
    torch.manual_seed(seed)
    model = TobigsForCausalLM(tiny_config(preset, **{**ADAPTIVE, **overrides}))
    model.generation_config.suppress_tokens = [model.config.eos_token_id]  # compare every step of a random model
    return model


@pytest.mark.parametrize("preset, overrides", [
    ("transformer-xl", dict(mem_len=8, tie_projs=[False, True, True])),
    ("gpt2", dict()),
    ("gpt2", dict(position_embedding_type="rotary", div_val=1, embedding_size=16, tie_projs=[True, True, True])),
    ("gpt2", dict(adaptive_input=False, tie_word_embeddings=False)),
    ("gpt2", dict(adaptive_softmax=False, tie_word_embeddings=False)),
])
def test_training_loss_equals_the_nll_of_the_returned_log_probs(preset, overrides):
    """Any decoder-only model: the loss without logits (per cluster, chunked or not) is the mean NLL read from the
    log-probabilities the model returns, and the plain path (`return_logits=True`) gives the same loss."""
    model = lm(preset, **overrides)
    ids = torch.randint(3, VOCAB, (2, 10))
    labels = ids.clone()
    labels[0, :3] = -100
    model.eval()
    with torch.no_grad():
        logits = model(ids).logits.double()  # (2, 10, VOCAB): log-probabilities with the adaptive softmax
        plain = model(ids, labels=labels, return_logits=True).loss
    targets = F.pad(labels, (0, 1), value=-100)[:, 1:]
    kept = targets != -100
    if model.config.adaptive_softmax:
        torch.testing.assert_close(logits.exp().sum(-1), torch.ones(2, 10, dtype=torch.float64))
    log_probs = logits.log_softmax(-1)
    nll = -log_probs[kept].gather(1, targets[kept, None]).mean()
    model.train()
    for chunk_size in (0, 4):
        model.config.loss_chunk_size = chunk_size
        out = model(ids, labels=labels)
        if model.config.adaptive_softmax or chunk_size:
            assert out.logits is None  # never the (tokens x vocab) log-probabilities in training
        torch.testing.assert_close(out.loss.double(), nll, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(plain.double(), nll, rtol=1e-5, atol=1e-6)


def test_model_gradients_equal_with_and_without_chunks():
    model = lm("gpt2")
    ids = torch.randint(3, VOCAB, (2, 12))
    grads = []
    for chunk_size in (0, 5):
        model.zero_grad()
        model.config.loss_chunk_size = chunk_size
        model.train()(ids, labels=ids).loss.backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-6, msg=name)


def test_inputs_embeds_are_the_adaptive_input():
    model = lm("gpt2").eval()
    ids = torch.randint(3, VOCAB, (2, 7))
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids)
        torch.testing.assert_close(model(inputs_embeds=embeds).logits, model(ids).logits)


def _tables_and_projections(model):
    embedding, softmax = model.model.decoder.embeddings.word_embeddings, model.lm_head
    return embedding, softmax


def test_ties_follow_tie_word_embeddings_and_tie_projs_and_survive_save_and_load(tmp_path):
    model = lm(mem_len=8, tie_projs=[False, True, True]).eval()
    ids = torch.randint(3, VOCAB, (2, 9))
    model.save_pretrained(tmp_path)
    from safetensors.torch import load_file
    saved = load_file(tmp_path / "model.safetensors")
    # Each tied tensor is written once, under the adaptive input's name (as the authors' word_emb).
    assert not any(key.startswith("lm_head.out_layers.") and key.endswith(".weight") for key in saved)
    assert {key for key in saved if key.startswith("lm_head.out_projs.")} == {"lm_head.out_projs.0"}
    loaded = TobigsForCausalLM.from_pretrained(tmp_path).eval()
    for candidate in (model, loaded):
        embedding, softmax = _tables_and_projections(candidate)
        for i in range(3):
            assert softmax.out_layers[i].weight.data_ptr() == embedding.emb_layers[i].weight.data_ptr()
        assert softmax.out_projs[0].data_ptr() != embedding.emb_projs[0].data_ptr()  # tie_projs[0] = False
        for i in (1, 2):
            assert softmax.out_projs[i].data_ptr() == embedding.emb_projs[i].data_ptr()
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)


def test_projections_tie_without_tied_tables_and_div_val_1_ties_its_one_projection():
    untied = lm(tie_word_embeddings=False, tie_projs=[True, False, True])
    embedding, softmax = _tables_and_projections(untied)
    assert softmax.out_layers[1].weight is not embedding.emb_layers[1].weight
    assert softmax.out_projs[0] is embedding.emb_projs[0] and softmax.out_projs[2] is embedding.emb_projs[2]
    assert softmax.out_projs[1] is not embedding.emb_projs[1]
    one_table = lm(div_val=1, embedding_size=16, tie_projs=[True, True, False])
    embedding, softmax = _tables_and_projections(one_table)
    assert softmax.out_layers[0].weight is embedding.emb_layers[0].weight
    assert softmax.out_projs[0] is embedding.emb_projs[0] and softmax.out_projs[1] is embedding.emb_projs[0]
    assert softmax.out_projs[2] is not embedding.emb_projs[0]


@pytest.mark.parametrize("mode", [dict(do_sample=False), dict(num_beams=3)])
def test_generate_with_cache_equals_without(mode):
    model = lm("gpt2").eval()
    prompt = torch.randint(3, VOCAB, (2, 5))
    kwargs = dict(max_new_tokens=8, min_new_tokens=8, **mode)
    cached = model.generate(prompt, **kwargs)
    assert torch.equal(cached, model.generate(prompt, use_cache=False, **kwargs))
    assert cached.shape == (2, 13)


def test_sampling_draws_from_the_adaptive_distribution():
    model = lm("gpt2").eval()
    prompt = torch.randint(3, VOCAB, (1, 4))
    torch.manual_seed(3)
    sampled = model.generate(prompt, do_sample=True, top_k=0, max_new_tokens=1, num_return_sequences=400)[:, -1]
    with torch.no_grad():
        probs = model(prompt).logits[0, -1].exp()
    # The most probable words are drawn about as often as their probability says (400 draws).
    top = probs.topk(3).indices
    frequency = torch.stack([(sampled == w).float().mean() for w in top])
    assert (frequency - probs[top]).abs().max() < 0.08


def test_transformer_xl_with_adaptive_input_and_softmax_trains_a_step_with_memory():
    model = lm(mem_len=6, tie_projs=[False, True, True]).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    stream = torch.randint(3, VOCAB, (2, 12))
    first, second = stream[:, :6], stream[:, 6:]
    out = model(first, labels=first)
    assert len(out.mems) == model.config.decoder_layers and out.mems[0].shape == (2, 6, 32)
    out = model(second, labels=second, mems=out.mems)
    out.loss.backward()
    embedding, softmax = _tables_and_projections(model)
    assert embedding.emb_projs[1].grad is not None and softmax.cluster_weight.grad.abs().sum() > 0
    before = embedding.emb_projs[1].detach().clone()
    optimizer.step()
    assert not torch.equal(before, embedding.emb_projs[1])
    # The memory changes the prediction: the second segment is scored in the context of the first.
    model.eval()
    with torch.no_grad():
        with_memory = model(second, mems=model(first).mems).logits
        alone = model(second).logits
    assert not torch.allclose(with_memory, alone)


CLEAN = """
import json, sys
sys.modules["tobigs_transformer"] = None  # the package cannot be imported here
import torch
from transformers import AutoModelForCausalLM
folder, ids = sys.argv[1], torch.tensor(json.loads(sys.argv[2]))
model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
with torch.no_grad():
    logits = model(input_ids=ids).logits
print(json.dumps({"module": type(model).__module__, "logits": logits.tolist()}))
"""


def test_loads_as_remote_code_with_the_same_outputs(tmp_path):
    model = lm("gpt2", tie_projs=[False, True, True]).eval()
    folder = tmp_path / "adaptive"
    model.save_pretrained(folder)
    assert (folder / "adaptive.py").is_file()
    ids = torch.randint(3, VOCAB, (2, 6))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HOME=str(tmp_path / "home"),
               TRANSFORMERS_VERBOSITY="error", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CLEAN, str(folder), json.dumps(ids.tolist())], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["module"].startswith("transformers_modules.")
    with torch.no_grad():
        assert torch.equal(torch.tensor(result["logits"]), model(ids).logits)


def test_text_generation_pipeline_gives_generate_s_tokens():
    from pipeline_support import config, gpt_tokenizer
    from transformers import pipeline

    tokenizer = gpt_tokenizer()
    torch.manual_seed(0)
    vocab = len(tokenizer)
    model = TobigsForCausalLM(config("gpt2", tokenizer, adaptive_input=True, adaptive_softmax=True,
                                     cutoffs=[vocab // 4, vocab // 2], div_val=2)).eval()
    settings = dict(max_new_tokens=6, min_new_tokens=6, do_sample=False)
    texts = pipeline("text-generation", model=model, tokenizer=tokenizer)("the cat", **settings)
    prompt = tokenizer("the cat", return_tensors="pt")
    tokens = model.generate(**prompt, **settings)
    assert texts[0]["generated_text"] == tokenizer.decode(tokens[0], skip_special_tokens=True)


def test_training_keeps_no_vocabulary_wide_tensor_and_the_chunked_head_keeps_no_head_log_probs():
    """What autograd saves for backward during a training forward: never a tensor over the whole vocabulary; with
    loss_chunk_size > 0 not the head's (tokens x head size) log-probabilities either (recomputed in backward)."""
    model = lm("gpt2").train()
    ids = torch.randint(3, VOCAB, (2, 10))
    head_size = CUTOFFS[0] + len(CUTOFFS)
    for chunk_size, head_kept in ((0, True), (4, False)):
        model.config.loss_chunk_size = chunk_size
        widths = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: widths.append(t.shape[-1] if t.dim() else 0) or t,
                                                      lambda t: t):
            model(ids, labels=ids).loss.backward()
        assert VOCAB not in widths
        assert (head_size in widths) == head_kept
