"""ClassifierEnsemble: the mean of its members' probabilities, each member on its own."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.classifier_ensemble import ClassifierEnsemble


def _ensemble(members=3):
    torch.manual_seed(0)
    member = SequenceClassifier(4, vocab_size=20, embedding_size=6, hidden_size=5)
    return ClassifierEnsemble(members, member.config()).eval()


def test_probabilities_are_the_mean_of_the_members_run_alone():
    ensemble = _ensemble()
    tokens, lengths = torch.randint(1, 20, (5, 7)), torch.tensor([7, 3, 5, 1, 6])
    with torch.no_grad():
        alone = [torch.softmax(member(tokens, lengths), dim=-1) for member in ensemble.members]
        expected = torch.stack(alone).mean(dim=0)
        torch.testing.assert_close(torch.softmax(ensemble(tokens, lengths), dim=-1), expected)
        torch.testing.assert_close(ensemble(tokens, lengths).exp(), expected)
    assert not torch.allclose(alone[0], alone[1])  # members start from different weights


def test_config_round_trip_keeps_the_members_and_their_shape():
    ensemble = _ensemble(members=2)
    config = ensemble.config()
    assert config["members"] == 2 and config["hidden_size"] == 5
    copy = ClassifierEnsemble.from_config(config)
    copy.load_state_dict(ensemble.state_dict())
    tokens = torch.randint(1, 20, (2, 4))
    with torch.no_grad():
        torch.testing.assert_close(copy.eval()(tokens), ensemble(tokens))
    with pytest.raises(ValueError):
        ClassifierEnsemble(1, config)
