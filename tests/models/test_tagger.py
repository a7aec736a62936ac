"""SequenceTagger: per-token outputs independent of padding; character features per word."""

from __future__ import annotations

import torch

from rnnkit.models.tagger import CharacterEncoder, SequenceTagger


def test_padding_changes_nothing_with_character_features():
    model = SequenceTagger(20, 4, embedding_size=6, hidden_size=5, char_vocab_size=12).eval()
    lengths = torch.tensor([4, 2])
    words = torch.randint(2, 20, (2, 4))
    char_lengths = torch.tensor([[3, 1, 2, 4], [2, 3, 0, 0]])
    chars = torch.randint(2, 12, (2, 4, 4)) * (torch.arange(4) < char_lengths.unsqueeze(-1))
    with torch.no_grad():
        batched = model(words, lengths, chars, char_lengths)
        alone = model(words[1:, :2], lengths[1:], chars[1:, :2, :3], char_lengths[1:, :2])
    torch.testing.assert_close(batched[1, :2], alone[0], atol=1e-5, rtol=1e-5)
    assert batched.shape == (2, 4, 4)


def test_character_encoder_equals_each_word_read_alone():
    encoder = CharacterEncoder(10, 4, 3).eval()
    chars = torch.tensor([[[1, 2, 3], [4, 0, 0]]])
    lengths = torch.tensor([[3, 1]])
    with torch.no_grad():
        together = encoder(chars, lengths)
        for column, n in enumerate([3, 1]):
            x = encoder.embedding(chars[:, column, :n])
            outputs, _ = encoder.rnn(x)
            # forward direction's last output, backward direction's first output
            expected = torch.cat([outputs[0, -1, :3], outputs[0, 0, 3:]])
            torch.testing.assert_close(together[0, column], expected)


def test_without_character_features_and_config_round_trip():
    model = SequenceTagger(15, 3, embedding_size=5, hidden_size=4)
    copy = SequenceTagger.from_config(model.config())
    copy.load_state_dict(model.state_dict())
    words = torch.randint(2, 15, (2, 5))
    torch.testing.assert_close(copy.eval()(words), model.eval()(words))


def test_every_slot_form_equals_the_selection_of_real_words():
    """What an exported graph computes (every word slot) equals the eager selection."""
    torch.manual_seed(0)
    encoder = CharacterEncoder(9, 4, 3, cell="gru").eval()
    chars = torch.randint(1, 9, (2, 5, 6))
    char_lengths = torch.tensor([[6, 2, 4, 1, 3], [5, 3, 0, 0, 0]])
    with torch.no_grad():
        selected = encoder(chars, char_lengths)
        every = encoder.every_slot(chars, char_lengths)
    torch.testing.assert_close(every, selected, rtol=0, atol=1e-6)
    assert every[1, 2:].abs().max() == 0
