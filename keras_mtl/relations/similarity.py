"""Representation similarity of single-task networks, layer by layer.

Linear centered kernel alignment between two representations `A`
(`[n, p]`) and `B` (`[n, q]`) of the same `n` inputs:

```
A, B <- A - mean(A), B - mean(B)          (column-centred)
CKA(A, B) = ||Bᵀ A||_F² / (||Aᵀ A||_F ||Bᵀ B||_F)
```

It is 1 for representations equal up to rotation and isotropic scaling,
and invariant to the order of the units, so layers of separately
trained networks can be compared.

References:
- Kornblith, Norouzi, Lee, Hinton (2019). Similarity of Neural Network
  Representations Revisited. ICML. arXiv:1905.00414.
- Vandenhende, Georgoulis, De Brabandere, Van Gool (2020). Branched
  Multi-Task Networks: Deciding What Layers To Share. BMVC.
  arXiv:1904.02920 (representation similarity per layer).
"""

import re
from typing import Any
from typing import Mapping
from typing import Sequence

import keras
import numpy as np

from keras_mtl.relations.matrix import RelationMatrix


def linear_cka(a: Any, b: Any) -> float:
    """Linear CKA of two `[n, ...]` representations of the same inputs."""
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(
            "linear_cka compares two representations of the same n >= 2 "
            f"inputs. Received {len(a)} and {len(b)} rows."
        )
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    cross = np.linalg.norm(b.T @ a) ** 2
    norm = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    if not norm > 0:
        raise ValueError(
            "linear_cka: a representation is constant over the inputs "
            "(e.g. dead ReLU units), so its similarity is undefined. Use "
            "more varied inputs or a briefly trained network."
        )
    return float(cross / norm)


def trunk_layer_names(model: keras.Model) -> list[str]:
    """The `trunk_<l>` block outputs of a single-task hard model, in order."""
    found = {}
    for layer in model.layers:
        match = re.fullmatch(r"trunk_(\d+)", layer.name)
        if match:
            found[int(match.group(1))] = layer.name
    return [found[k] for k in sorted(found)]


def layer_similarity(
    models: Mapping[str, keras.Model], x: Any,
    layers: Sequence[str] | None = None, batch_size: int = 256,
) -> list[RelationMatrix]:
    """Per layer, the linear CKA between every pair of task networks.

    Args:
        models: `{task: model}`, one briefly trained single-task network
            per task, all of the same architecture (e.g.
            `keras_mtl.build(inputs, [task], trunk=trunk)`).
        x: Inputs to compare the representations on (a few hundred to a
            few thousand samples).
        layers: Names of the layers to compare, from the input up,
            present in every model. Defaults to the builders' trunk
            blocks `trunk_0, trunk_1, ...`.
        batch_size: Prediction batch size.

    Returns:
        One `RelationMatrix` per layer (measure `"cka"`), 1 on the
        diagonal.
    """
    names = tuple(models)
    if len(names) < 2:
        raise ValueError(
            "layer_similarity compares two or more task networks; received "
            f"{len(names)}."
        )
    if layers is None:
        layers = trunk_layer_names(models[names[0]])
        if not layers:
            raise ValueError(
                f"Model for task {names[0]!r} has no layers named trunk_0, "
                "trunk_1, ...; pass `layers=` (the block outputs to compare)."
            )
    features = {}
    for task, model in models.items():
        try:
            outputs = [model.get_layer(name).output for name in layers]
        except ValueError as error:
            raise ValueError(
                f"The network of task {task!r} lacks a layer of {list(layers)}"
                f": {error} Give every task the same architecture."
            ) from error
        probe = keras.Model(model.inputs, outputs)
        values = probe.predict(x, batch_size=batch_size, verbose=0)
        features[task] = values if isinstance(values, list) else [values]
    result = []
    for level, layer in enumerate(layers):
        matrix = np.eye(len(names))
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                matrix[i, j] = matrix[j, i] = linear_cka(
                    features[names[i]][level], features[names[j]][level])
        result.append(RelationMatrix(names, matrix, f"cka:{layer}"))
    return result
