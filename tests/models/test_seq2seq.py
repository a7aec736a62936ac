"""Seq2Seq: shapes, padding, the step function, greedy and beam search against exhaustive search."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
import torch

from rnnkit.decoding import beam_search, gnmt_length_penalty, greedy_search
from rnnkit.models.seq2seq import Seq2Seq

PAD, BOS, EOS = 0, 2, 3


def tiny(attention="bahdanau", cell="gru", **options) -> Seq2Seq:
    torch.manual_seed(0)
    settings = dict(
        embedding_size=8,
        encoder_hidden=6,
        encoder_layers=2,
        decoder_hidden=12,
        decoder_layers=2,
        cell=cell,
        attention=attention,
        dropout=0.0,
    )
    settings.update(options)
    return Seq2Seq(11, 9, **settings).eval()


def sources(seed=1):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 2, 4])
    source = torch.randint(4, 11, (3, 5), generator=generator)
    source[torch.arange(5) >= lengths.unsqueeze(1)] = PAD
    return source, lengths


@pytest.mark.parametrize("attention", ["bahdanau", "luong-dot", "luong-general", "none"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_shapes_and_attention_rows(attention, cell):
    model = tiny(attention, cell, decoder_hidden=12 if attention == "luong-dot" else 10)
    source, lengths = sources()
    target_in = torch.randint(4, 9, (3, 7))
    logits, weights = model(source, lengths, target_in, return_attention=True)
    assert logits.shape == (3, 7, 9)
    assert weights.shape == (3, 7, 5)
    if attention != "none":
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 7))
        padded = torch.arange(5) >= lengths.unsqueeze(1)
        assert torch.all(weights.masked_select(padded.unsqueeze(1).expand_as(weights)) == 0)
    result = model.generate(source, lengths, max_len=6, beam_size=3)
    assert result.tokens.shape[0] == 3 and bool((result.lengths <= 6).all())


@pytest.mark.parametrize("attention", ["bahdanau", "none"])
def test_padding_changes_nothing(attention):
    """Each pair scored alone equals the same pair inside a padded batch."""
    model = tiny(attention)
    source, lengths = sources()
    target_lengths = [6, 3, 1]
    target_in = torch.randint(4, 9, (3, 6))
    for row in range(3):
        target_in[row, target_lengths[row] :] = PAD
    batched = model(source, lengths, target_in)
    for row in range(3):
        s, t = int(lengths[row]), target_lengths[row]
        alone = model(
            source[row : row + 1, :s], lengths[row : row + 1], target_in[row : row + 1, :t]
        )
        torch.testing.assert_close(batched[row, :t], alone[0], rtol=1e-5, atol=1e-6)


def test_step_function_matches_teacher_forced_forward():
    model = tiny("luong-general", "lstm")
    source, lengths = sources()
    target_in = torch.randint(4, 9, (3, 5))
    logits = model(source, lengths, target_in)
    logits[..., [PAD, BOS]] = float("-inf")
    expected = torch.log_softmax(logits, dim=-1)
    state = model.encode(source, lengths)
    for t, tokens in enumerate(target_in.unbind(1)):
        log_probs, state = model.step(tokens, state)
        torch.testing.assert_close(log_probs, expected[:, t], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attention", ["bahdanau", "none"])
def test_beam_of_one_equals_greedy_exactly(attention):
    model = tiny(attention, "lstm")
    source, lengths = sources(seed=3)
    limits = torch.tensor([7, 4, 6])
    greedy = model.generate(source, lengths, limits, beam_size=1)
    with torch.no_grad():
        beam = beam_search(
            model.step, model.encode(source, lengths), 3, BOS, EOS, 1, limits, state_dims=0
        )
    assert torch.equal(beam.tokens, greedy.tokens)
    assert torch.equal(beam.lengths, greedy.lengths)
    torch.testing.assert_close(beam.log_probs, greedy.log_probs)


def test_teacher_forcing_zero_feeds_the_greedy_predictions():
    model = tiny("bahdanau")
    with torch.no_grad():  # make pad and bos unlikely so the unmasked argmax matches greedy's
        model.output.bias[[PAD, BOS]] = -1e4
    source, lengths = sources()
    steps = 6
    greedy = model.generate(source, lengths, steps)
    target_in = torch.full((3, steps), 5)  # gold tokens that must be ignored
    target_in[:, 0] = BOS
    logits = model(source, lengths, target_in, teacher_forcing=0.0)
    predicted = logits.argmax(-1)
    for row, sequence in enumerate(greedy.sequences()):
        assert predicted[row, : len(sequence)].tolist() == sequence


def exhaustive_best(score_of, content_tokens, max_len, alpha):
    """Best (tokens, penalised score) over every output the search could produce."""
    best = (None, float("-inf"))
    for length in range(max_len + 1):
        for tokens in itertools.product(content_tokens, repeat=length):
            if length < max_len:
                emitted, count = [*tokens, EOS], length + 1
            else:
                emitted, count = list(tokens), length  # cut at max_len without eos
            score = score_of(emitted) / gnmt_length_penalty(count, alpha)
            if score > best[1]:
                best = (list(tokens), score)
    return best


@pytest.mark.parametrize("alpha", [0.0, 1.5])
def test_beam_search_finds_the_exhaustive_best_of_a_model(alpha):
    torch.manual_seed(21)  # a model on which greedy search misses the best output for both alphas
    model = Seq2Seq(7, 6, 8, 6, 1, True, 8, 1, "gru", "bahdanau", dropout=0.0).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2)  # sharper distributions make greedy and beam search disagree
    source, lengths = torch.tensor([[4, 5, 6]]), torch.tensor([3])
    max_len = 3

    def score_of(emitted):  # teacher-forced log-probability, computed independently of search
        target_in = torch.tensor([[BOS, *emitted[:-1]]])
        with torch.no_grad():
            logits = model(source, lengths, target_in)[0]
        logits[:, [PAD, BOS]] = float("-inf")
        log_probs = torch.log_softmax(logits, -1)
        return float(sum(log_probs[t, token] for t, token in enumerate(emitted)))

    tokens, score = exhaustive_best(score_of, [1, 4, 5], max_len, alpha)
    assert model.generate(source, lengths, max_len).sequences()[0] != tokens
    result = model.generate(source, lengths, max_len, beam_size=100, length_penalty=alpha)
    assert result.sequences()[0] == tokens
    assert float(result.scores[0]) == pytest.approx(score, abs=1e-4)


def test_beam_search_beats_greedy_on_a_scripted_garden_path():
    """Greedy takes token 4 (p=0.6) and then finds only poor continuations; the best output
    starts with the less likely token 5 (p=0.4) and continues with certainty."""
    vocab = 6
    table = torch.full((vocab, vocab), -1e9)

    def set_row(previous, probs):
        for token, p in probs.items():
            table[previous, token] = torch.tensor(p).log()

    set_row(BOS, {4: 0.6, 5: 0.4})
    set_row(4, {EOS: 0.3, 4: 0.35, 5: 0.35})
    set_row(5, {EOS: 1.0})

    def step(tokens, state):
        return table[tokens], state

    def score_of(emitted):
        previous, total = BOS, 0.0
        for token in emitted:
            total += float(table[previous, token])
            previous = token
        return total

    best_tokens, best_score = exhaustive_best(score_of, [1, 4, 5], 4, 0.0)
    assert best_tokens == [5]
    state = torch.zeros(1, 1)
    greedy = greedy_search(step, state, 1, BOS, EOS, 4)
    beam = beam_search(step, state, 1, BOS, EOS, 2, 4)
    assert greedy.sequences()[0] != best_tokens
    assert beam.sequences()[0] == best_tokens
    assert float(beam.scores[0]) == pytest.approx(best_score)


def test_shared_embeddings_zero_bridge_and_bad_options():
    torch.manual_seed(0)
    model = Seq2Seq(9, 9, 8, 6, 1, True, 10, 2, share_embeddings=True, bridge="zero")
    assert model.source_embedding is model.target_embedding
    source, lengths = sources()
    state = model.encode(source.clamp(max=8), lengths)
    assert all(bool((layer == 0).all()) for layer in state["layers"])
    with pytest.raises(ValueError, match="share_embeddings needs one vocabulary"):
        Seq2Seq(11, 9, share_embeddings=True)
    with pytest.raises(ValueError, match="attention must be one of"):
        Seq2Seq(11, 9, attention="cosine")


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("teacher_forcing", [1.0, 0.5])
def test_loss_from_forward_equals_cross_entropy_of_its_logits(teacher_forcing, tie):
    model = tiny(dropout=0.0, tie_embeddings=tie).double().train()
    source, lengths = sources()
    target_in = torch.tensor([[BOS, 4, 5, 6], [BOS, 7, 0, 0], [BOS, 8, 4, 0]])
    target_out = torch.tensor([[4, 5, 6, EOS], [7, EOS, 0, 0], [8, 4, EOS, 0]])
    params = list(model.parameters())
    torch.manual_seed(3)  # the same draws of scheduled sampling for both
    logits = model(source, lengths, target_in, teacher_forcing=teacher_forcing)
    expected = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), target_out.flatten(), ignore_index=PAD, label_smoothing=0.1
    )
    expected_grads = torch.autograd.grad(expected, params, allow_unused=True)
    torch.manual_seed(3)
    loss = model(
        source,
        lengths,
        target_in,
        teacher_forcing=teacher_forcing,
        target_out=target_out,
        label_smoothing=0.1,
    )
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-12)
    for got, want in zip(grads, expected_grads, strict=True):
        if want is None:
            assert got is None
        else:
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_tied_output_layer_scores_features_against_the_target_embeddings():
    untied, tied = tiny(), tiny(tie_embeddings=True)
    # untied output: H*V + V; tied: an H -> E projection and a bias per token
    assert sum(p.numel() for p in untied.parameters()) - sum(
        p.numel() for p in tied.parameters()
    ) == (12 * 9 + 9) - (12 * 8 + 9)
    assert tied.output is None
    # token 6 is a target but never a decoder input: only through the tied output layer does
    # its embedding get a gradient
    source, lengths = sources()
    target_in = torch.tensor([[BOS, 4, 5], [BOS, 7, 0], [BOS, 8, 4]])
    target_out = torch.tensor([[4, 5, 6], [7, EOS, 0], [8, 4, EOS]])
    for model, gets_gradient in [(untied, False), (tied, True)]:
        model.zero_grad()
        model.train()(source, lengths, target_in, target_out=target_out).backward()
        assert bool(model.target_embedding.weight.grad[6].abs().sum() > 0) is gets_gradient
    # changing token 6's embedding moves its logit in the tied model only
    probe = torch.tensor([[BOS, 4]])
    for model, moves in [(untied, False), (tied, True)]:
        model.eval()
        before = model(source[:1], lengths[:1], probe)
        with torch.no_grad():
            model.target_embedding.weight[6] += 1.0
        after = model(source[:1], lengths[:1], probe)
        assert bool((after[..., 6] != before[..., 6]).any()) is moves
        torch.testing.assert_close(after[..., 5], before[..., 5])


def test_a_config_without_tie_embeddings_builds_the_untied_model():
    config = tiny().config()
    del config["tie_embeddings"]  # as written before the option existed
    assert Seq2Seq.from_config(config).output is not None


UNK = 1


@pytest.mark.parametrize("beam_size", [1, 3])
def test_forbidden_ids_are_never_emitted_and_the_rest_renormalised(beam_size):
    model = tiny("bahdanau")
    with torch.no_grad():
        model.output.bias[UNK] = 50.0  # the unknown token outscores every other token
    source, lengths = sources()
    free = model.generate(source, lengths, 6, beam_size=beam_size)
    assert all(sequence and set(sequence) == {UNK} for sequence in free.sequences())
    banned = model.generate(source, lengths, 6, beam_size=beam_size, forbidden_ids=[UNK])
    assert all(UNK not in sequence for sequence in banned.sequences())
    # the step's log-probabilities: the teacher-forced logits with pad, bos and unk masked
    target_in = torch.randint(4, 9, (3, 4))
    logits = model(source, lengths, target_in)
    logits[..., [PAD, BOS, UNK]] = float("-inf")
    expected = torch.log_softmax(logits, dim=-1)
    state = model.encode(source, lengths)
    for t, tokens in enumerate(target_in.unbind(1)):
        log_probs, state = model.step(tokens, state, forbidden=[UNK])
        torch.testing.assert_close(log_probs, expected[:, t], rtol=1e-5, atol=1e-6)


def test_forbidding_eos_or_an_id_outside_the_vocabulary_is_refused():
    model = tiny()
    source, lengths = sources()
    with pytest.raises(ValueError, match="must not contain eos"):
        model.generate(source, lengths, 4, forbidden_ids=[EOS])
    with pytest.raises(ValueError, match=r"target ids in 0\.\.8"):
        model.generate(source, lengths, 4, forbidden_ids=[9])


def test_the_models_do_not_import_the_training_code():
    """Models are built from layers only: importing them (and the decoding they use) in a fresh
    interpreter loads neither ``rnnkit.training`` nor any task."""
    code = (
        "import sys, rnnkit.models, rnnkit.decoding; "
        "print(sorted(m for m in sys.modules if m.startswith(('rnnkit.training', 'rnnkit.tasks'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_parameters_keep_the_names_and_order_runs_were_saved_with():
    # As Seq2Seq registered them before its decoder became AttentionDecoder: weights load by
    # name, and an optimiser's state in a checkpoint by position.
    model = Seq2Seq(11, 13, 8, 8, 1, True, 16, 1, cell="lstm", tie_embeddings=True)
    weights = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    cells = [f"{part}.cells.{i}.{w}" for part, n in (("encoder", 2), ("decoder", 1))
             for i in range(n) for w in weights]  # fmt: skip
    assert [name for name, _ in model.named_parameters()] == [
        "output_bias", "source_embedding.weight", "target_embedding.weight", *cells,
        "bridge.0.weight", "bridge.0.bias", "bridge.1.weight", "bridge.1.bias",
        "attention.query_projection.weight", "attention.memory_projection.weight",
        "attention.memory_projection.bias", "attention.v.weight", "combine.weight",
        "output_projection.weight",
    ]  # fmt: skip
