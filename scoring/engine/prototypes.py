"""K style prototypes of a single-style challenge: k-means over the style images' statistics.

Each style image is one vector: its ten style statistics (metrics.style_statistics), each
scaled by 1 / (√10 · ‖mean of that statistic‖), concatenated. Squared Euclidean distance between
such vectors is then the style distance's numerator over the norms of the mean style, so the
clusters k-means finds are clusters of that distance, and no statistic wins only because its
entries are larger. A statistic that is zero for every image stays zero. The prototypes are
the cluster means, scaled back. K = 1 gives the mean of all style images.

k-means is scipy's `kmeans2` from a deterministic start: farthest-first traversal beginning at
the style image closest to the mean (ties to the lower index), then a fixed number of Lloyd
iterations. The same images in the same order always give the same prototypes.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from scipy.cluster.vq import kmeans2

from scoring.engine.errors import (
    DEGENERATE_STYLE,
    TOO_MANY_PROTOTYPES,
    ErrorCode,
    ScoringError,
)

logger = logging.getLogger(__name__)

KMEANS_ITERATIONS = 20


def style_prototypes(statistics: Mapping[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """K prototypes (K×… per key) from the style statistics of S style images (S×… per key;
    S×members×C×C and K×members×C×C with an ensemble of metric networks)."""
    keys = list(statistics)
    count = statistics[keys[0]].shape[0]
    scales: dict[str, float] = {}
    for key in keys:
        mean_norm = float(statistics[key].double().mean(dim=0).norm())
        # A statistic that is zero for every style image (the covariance of a map too small to
        # vary) tells the clusters nothing; left unscaled, it stays zero.
        scales[key] = 1.0 / (math.sqrt(len(keys)) * mean_norm) if mean_norm else 1.0
    if not any(float(statistics[key].abs().max()) for key in keys):
        raise ScoringError(ErrorCode.DEGENERATE_REFERENCE, DEGENERATE_STYLE)
    data = np.concatenate(
        [statistics[key].reshape(count, -1).double().numpy() * scales[key] for key in keys], axis=1
    )
    initial = farthest_first(data, k)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        centroids, labels = kmeans2(data, initial, iter=KMEANS_ITERATIONS, minit="matrix")
    for warning in caught:
        # An emptied cluster keeps its previous centre; worth knowing, not worth failing.
        logger.warning("k-means of style prototypes: %s", warning.message)
    sizes = np.bincount(labels, minlength=k).tolist()
    logger.info("style prototypes from %d image(s), per prototype: %s", count, sizes)
    prototypes: dict[str, torch.Tensor] = {}
    offset = 0
    for key in keys:
        # C×C or C per image, members×… for an ensemble of metric networks.
        shape = tuple(statistics[key].shape[1:])
        size = math.prod(shape)
        block = centroids[:, offset : offset + size] / scales[key]
        prototypes[key] = torch.from_numpy(block.reshape(k, *shape)).float()
        offset += size
    return prototypes


def farthest_first(data: np.ndarray, k: int) -> np.ndarray:
    """k rows of `data`: the one closest to the mean, then each time the farthest from those."""
    # Rows are long (every entry of every statistic): hash their bytes rather than sort them.
    distinct = len({row.tobytes() for row in data})
    if k < 1 or distinct < k:
        raise ScoringError(
            ErrorCode.TOO_MANY_PROTOTYPES, TOO_MANY_PROTOTYPES.format(k=k, found=distinct)
        )
    chosen = [int(np.argmin(((data - data.mean(axis=0)) ** 2).sum(axis=1)))]
    nearest = ((data - data[chosen[0]]) ** 2).sum(axis=1)
    while len(chosen) < k:
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, ((data - data[chosen[-1]]) ** 2).sum(axis=1))
    return data[chosen].copy()
