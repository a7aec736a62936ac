"""An LSTM autoencoder of fixed-length windows, whose reconstruction error scores anomalies.

The encoder reads a window ``(B, W, F)`` (targets and covariates); its final state starts the
decoder, which reads only the covariates (zeros when there are none) and must rebuild the ``n``
target columns of the window in order. A window the model has seen the like of in training comes
back close; an unusual one does not.
"""

from __future__ import annotations

from torch import Tensor, nn

from rnnkit.layers import RNN
from rnnkit.models.config import ConfigFromAttributes


class SequenceAutoencoder(ConfigFromAttributes, nn.Module):
    """Reconstruct the ``num_targets`` first columns of ``(B, W, F)`` windows.

    Args:
        num_features: ``F``, columns per step: ``num_targets`` targets, then covariates.
        num_targets: ``n``.
        hidden_size, num_layers, cell: of the encoder and decoder ``rnnkit.RNN``.
    """

    config_names = ("num_features", "num_targets", "hidden_size", "num_layers", "cell")

    def __init__(
        self,
        num_features: int,
        num_targets: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
    ) -> None:
        super().__init__()
        if not 1 <= num_targets <= num_features:
            raise ValueError(
                f"need 1 <= num_targets <= num_features, got {num_targets}, {num_features}"
            )
        self.num_features, self.num_targets = num_features, num_targets
        self.hidden_size, self.num_layers, self.cell = hidden_size, num_layers, cell
        decoder_inputs = max(1, num_features - num_targets)
        self.encoder = RNN(cell, num_features, hidden_size, num_layers=num_layers)
        self.decoder = RNN(cell, decoder_inputs, hidden_size, num_layers=num_layers)
        self.head = nn.Linear(self.decoder.output_size, num_targets)

    def forward(self, windows: Tensor) -> Tensor:
        """``windows (B, W, F)`` -> reconstructed targets ``(B, W, n)``."""
        if windows.dim() != 3 or windows.shape[-1] != self.num_features:
            raise ValueError(f"windows must be (B, W, {self.num_features}), got {windows.shape}")
        _, state = self.encoder(windows)
        covariates = windows[..., self.num_targets :]
        if covariates.shape[-1] == 0:
            covariates = windows.new_zeros(*windows.shape[:2], 1)
        output, _ = self.decoder(covariates, state)
        return self.head(output)
