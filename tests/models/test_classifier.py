"""SequenceClassifier: pooling over real steps only, against sequences run one at a time and
against the RNN's own final states; attention weights; freezing for gradual unfreezing."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.classifier import POOLINGS, SequenceClassifier


def _model(pooling, **options):
    options = {"vocab_size": 30, "embedding_size": 8, **options}
    return SequenceClassifier(3, hidden_size=6, pooling=pooling, **options).eval()


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padding_changes_nothing(pooling, cell):
    model = _model(pooling, cell=cell)
    lengths = torch.tensor([5, 2, 7])
    tokens = torch.randint(1, 30, (3, 7))
    with torch.no_grad():
        batched, weights = model.forward_with_weights(tokens, lengths)
        for row, n in enumerate(lengths.tolist()):
            alone, _ = model.forward_with_weights(tokens[row : row + 1, :n])
            torch.testing.assert_close(batched[row], alone[0], atol=1e-5, rtol=1e-5)
        garbage = tokens.clone()
        garbage[1, 2:] = torch.randint(1, 30, (5,))
        torch.testing.assert_close(model(garbage, lengths), batched)
    if pooling == "attention":
        assert torch.all(weights[1, 2:] == 0)
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))


def test_last_pooling_reads_the_rnns_final_states_of_both_directions():
    model = _model("last")
    tokens, lengths = torch.randint(1, 30, (4, 6)), torch.tensor([6, 3, 1, 4])
    with torch.no_grad():
        _, (h, _) = model.rnn(model.embedding(tokens), lengths=lengths)  # h: (2, B, H)
        expected = model.head(torch.cat([h[0], h[1]], dim=-1))
        torch.testing.assert_close(model(tokens, lengths), expected)


def test_mean_and_max_pooling_against_a_direct_computation():
    features = torch.randn(2, 5, 4)
    lengths = torch.tensor([5, 2])
    for pooling in ("mean", "max"):
        model = SequenceClassifier(2, input_size=4, hidden_size=3, pooling=pooling).eval()
        with torch.no_grad():
            outputs, _ = model.rnn(features, lengths=lengths)
            rows = [outputs[b, : int(n)] for b, n in enumerate(lengths)]
            pooled = torch.stack([r.mean(0) if pooling == "mean" else r.amax(0) for r in rows])
            torch.testing.assert_close(model(features, lengths), model.head(pooled))


def test_feature_input_and_config_round_trip():
    model = SequenceClassifier(4, input_size=3, hidden_size=5, cell="gru", bidirectional=False)
    copy = SequenceClassifier.from_config(model.config())
    copy.load_state_dict(model.state_dict())
    x = torch.randn(2, 6, 3)
    torch.testing.assert_close(copy.eval()(x), model.eval()(x))
    assert model(x).shape == (2, 4)


def test_frozen_groups_get_no_gradient_and_the_rest_do():
    model = _model("mean", num_layers=2)
    model.train()
    model.freeze_bottom(2)  # embedding and the first RNN layer
    loss = model(torch.randint(1, 30, (2, 5))).sum()
    loss.backward()
    embedding, first, second = model.pretrained_groups()
    assert all(p.grad is None for p in embedding + first)
    assert all(p.grad is not None for p in second + list(model.head.parameters()))


def test_wrong_input_is_refused():
    with pytest.raises(ValueError, match="exactly one of vocab_size"):
        SequenceClassifier(2, vocab_size=5, input_size=3)
    with pytest.raises(ValueError, match="pooling must be one of"):
        SequenceClassifier(2, vocab_size=5, pooling="sum")


# --- character n-grams, word dropout, max + attention pooling -----------------------------------


def _ngram_model(**options):
    options = {"vocab_size": 10, "embedding_size": 4, "ngram_buckets": 20, **options}
    return SequenceClassifier(2, hidden_size=3, **options)


def test_a_tokens_vector_is_its_word_embedding_plus_the_mean_of_its_ngrams():
    model = _ngram_model().eval()
    # two unknown words (id 1) with different n-grams, the second padded with zeros
    x = torch.tensor([[[1, 3, 5, 7], [1, 2, 0, 0]]])
    with torch.no_grad():
        vectors = model.embed(x)
        word, grams = model.embedding.weight, model.ngrams.embedding.weight
        torch.testing.assert_close(vectors[0, 0], word[1] + (grams[3] + grams[5] + grams[7]) / 3)
        torch.testing.assert_close(vectors[0, 1], word[1] + grams[2])
    assert not torch.allclose(vectors[0, 0], vectors[0, 1])  # the unseen words differ
    with pytest.raises(ValueError):
        model.embed(torch.tensor([[1, 2]]))  # plain ids where n-grams are expected


def test_word_dropout_drops_whole_word_rows_in_training_only():
    torch.manual_seed(0)
    model = _ngram_model(word_dropout=0.5, ngram_buckets=0, vocab_size=200)
    words = torch.arange(200).repeat(2, 1)  # every word twice: rows 0 and 1
    model.train()
    vectors = model.embed(words)
    reference = model.embedding.weight
    dropped = vectors.abs().sum(dim=-1).eq(0)  # (2, 200)
    assert dropped[0].equal(dropped[1])  # the same word is dropped everywhere in the batch
    assert 60 < int(dropped[0].sum()) < 140  # about half of 200
    kept = ~dropped[0]
    torch.testing.assert_close(vectors[0, kept], 2 * reference[kept])  # scaled by 1 / (1 - p)
    model.eval()
    torch.testing.assert_close(model.embed(words), reference[words])


def test_max_attention_pooling_is_the_maximum_beside_the_attention_sum():
    model = _model("max_attention").eval()
    tokens, lengths = torch.randint(1, 30, (3, 6)), torch.tensor([6, 2, 4])
    with torch.no_grad():
        outputs, _ = model.rnn(model.embedding(tokens), lengths=lengths)
        rows = [outputs[b, : int(n)] for b, n in enumerate(lengths)]
        maximum = torch.stack([r.amax(0) for r in rows])
        scores = [
            model.attention.score(torch.tanh(model.attention.project(r))).squeeze(-1) for r in rows
        ]
        attended = torch.stack([torch.softmax(s, 0) @ r for s, r in zip(scores, rows, strict=True)])
        expected = model.head(torch.cat([maximum, attended], dim=-1))
        torch.testing.assert_close(model(tokens, lengths), expected, atol=1e-5, rtol=1e-5)
