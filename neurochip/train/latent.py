"""Latent float weights that the forward pass quantizes: what the MLP and the CNN trainer
share (one home for the parameter list, the quantized forward weights and the clip)."""

from __future__ import annotations

from typing import Any


class LatentBinaryNet:
    """Mixin: ``weights`` and ``biases`` (torch tensors) and ``weight_bits``."""

    weights: list[Any]
    biases: list[Any]
    weight_bits: int

    def parameters(self) -> list[Any]:
        return self.weights + self.biases

    def effective_weights(self) -> list[Any]:
        from neurochip.train.ste import effective_weight

        return [effective_weight(w, self.weight_bits) for w in self.weights]

    def clip_latent(self) -> None:
        """Binary weights only use the sign and mean magnitude; keep latent W in [-1, 1]."""
        if self.weight_bits == 1:
            for w in self.weights:
                w.data.clamp_(-1.0, 1.0)
