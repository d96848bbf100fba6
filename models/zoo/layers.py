"""Layers shared by several zoo networks."""

from __future__ import annotations

import re
from collections.abc import Iterable

from torch import nn

_NORM_STATISTIC = re.compile(r"^(?P<module>.+)\.(running_mean|running_var|num_batches_tracked)$")


class InstanceNorm2d(nn.GroupNorm):
    """Instance normalisation computed as GroupNorm with one channel per group.

    The same function and the same state_dict keys (`weight` and `bias` when affine, nothing
    otherwise) as `nn.InstanceNorm2d` without running statistics, the configuration of every
    zoo network. GroupNorm has a channels_last CPU kernel, while InstanceNorm2d copies
    channels_last tensors to contiguous and back, which costs about a fifth of a TransformerNet
    forward pass.
    """

    def __init__(self, channels: int, *, affine: bool) -> None:
        super().__init__(channels, channels, eps=1e-5, affine=affine)


def instance_norm_statistics(keys: Iterable[str]) -> frozenset[str]:
    """Running statistics of parameterless norm layers, which old PyTorch versions saved.

    Before PyTorch 0.4 every InstanceNorm2d saved `running_mean` and `running_var`; the layer
    never uses them, and their module has no `weight` (batch norm layers, which do use running
    statistics, always do here), so they are dropped before matching keys.
    """
    names = set(keys)
    return frozenset(
        key
        for key in names
        if (match := _NORM_STATISTIC.match(key)) and f"{match['module']}.weight" not in names
    )
