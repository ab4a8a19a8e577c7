"""Outputs as transformers users expect them: hidden states, attention weights (incl. cross), tuples."""

import torch
from tiny import tiny_config

import tobigs_transformer as tt


def test_encoder_decoder_hidden_states_and_attentions():
    model = tt.TobigsForConditionalGeneration(tiny_config("transformer-base", decoder_layers=3)).eval()
    model.set_attn_implementation("eager")
    source, target = torch.randint(3, 98, (2, 6)), torch.randint(3, 98, (2, 4))
    out = model(source, decoder_input_ids=target, output_hidden_states=True, output_attentions=True)
    assert len(out.encoder_hidden_states) == 2 + 1 and len(out.decoder_hidden_states) == 3 + 1
    assert [a.shape for a in out.encoder_attentions] == [(2, 4, 6, 6)] * 2
    assert [a.shape for a in out.decoder_attentions] == [(2, 4, 4, 4)] * 3
    assert [a.shape for a in out.cross_attentions] == [(2, 4, 4, 6)] * 3
    for weights in out.decoder_attentions:  # masked self-attention: nothing above the diagonal
        assert torch.all(weights.triu(1) == 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 4))
    torch.testing.assert_close(out.decoder_hidden_states[-1], model.model(source, decoder_input_ids=target)[0])


def test_decoder_only_and_encoder_only_outputs():
    gpt = tt.TobigsForCausalLM(tiny_config("gpt2", attn_implementation="eager")).eval()
    out = gpt(torch.randint(3, 98, (1, 5)), output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    bert = tt.TobigsModel(tiny_config("bert-base", attn_implementation="eager")).eval()
    out = bert(torch.randint(3, 98, (1, 5)), output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == 3 and out.attentions[0].shape == (1, 4, 5, 5)
    assert out.pooler_output.shape == (1, 32)


def test_return_dict_false_gives_tuples():
    model = tt.TobigsForCausalLM(tiny_config("gpt2")).eval()
    ids = torch.randint(3, 98, (1, 5))
    as_tuple = model(ids, labels=ids, return_dict=False)
    as_dict = model(ids, labels=ids)
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], as_dict.loss)
    torch.testing.assert_close(as_tuple[1], as_dict.logits)
    seq2seq = tt.TobigsForConditionalGeneration(tiny_config("bart-base")).eval()
    assert isinstance(seq2seq(ids, return_dict=False), tuple)


def test_feature_extraction_shapes():
    model = tt.TobigsModel(tiny_config("bart-base")).eval()
    out = model(torch.randint(3, 98, (2, 6)), decoder_input_ids=torch.randint(3, 98, (2, 3)))
    assert out.last_hidden_state.shape == (2, 3, 32) and out.encoder_last_hidden_state.shape == (2, 6, 32)
