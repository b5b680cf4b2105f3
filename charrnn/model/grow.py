"""A model's weights for a grown vocabulary (fine-tuning on text with new characters): the old
characters keep their ids and rows; each new character's embedding and output weights start as
the mean of the old characters' (an average character, as the model knows them), and its output
bias as the lowest old one (as likely as the model's rarest character), so that the model's
predictions of the old characters barely move before training starts."""

from __future__ import annotations

import torch

from charrnn.model.network import CharRNN

OUTPUT_BIAS = "head.bias"


def grown_weights(model: CharRNN, old: dict[str, torch.Tensor], old_vocab: int) -> dict[str, torch.Tensor]:
    """`old` (a state dict of a model with `old_vocab` characters) laid out for `model`, whose
    vocabulary holds those characters first: every tensor with a vocabulary axis extended."""
    grown = {}
    for name, target in model.state_dict().items():
        weights = old[name]
        if weights.shape == target.shape:
            grown[name] = weights
            continue
        axis = next(i for i, (a, b) in enumerate(zip(weights.shape, target.shape, strict=True)) if a != b)
        if weights.shape[axis] != old_vocab:
            raise ValueError(f"{name}: {tuple(weights.shape)} cannot grow to {tuple(target.shape)}")
        extra = target.shape[axis] - old_vocab
        if name == OUTPUT_BIAS:
            fill = weights.amin(dim=axis, keepdim=True)
        else:
            fill = weights.mean(dim=axis, keepdim=True)
        grown[name] = torch.cat(
            [weights, fill.expand(*[extra if i == axis else -1 for i in range(weights.dim())])], axis
        )
    return grown
