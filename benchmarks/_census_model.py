"""Census-Income models of benchmarks/census_income.py: the per-field
embedding (DeepCTR's `embedding_dim`) and the six methods' models."""

import keras
import numpy as np

import keras_mtl

TASKS = ("income", "never_married")
METHODS = ("single_task", "shared_bottom", "mmoe", "ple",
           "sb_uncertainty", "sb_upgrad")
EMBEDDING_DIM = 4


class FieldEmbedding(keras.layers.Layer):
    """Embeds one-hot categorical fields (DeepCTR's `embedding_dim`).

    The input is the loader's matrix: `num_numeric` numeric columns, then
    the one-hot columns of each field. Field `f`'s embedding is
    `onehot_f @ W_f` with `W_f` `[categories_f, dim]`, i.e. an embedding
    lookup (an unseen category, all zeros, embeds to zeros). Output: the
    numeric columns followed by the `F * dim` embedding values.
    """

    def __init__(self, num_numeric: int, field_sizes: list[int],
                 dim: int = EMBEDDING_DIM, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_numeric = num_numeric
        self.field_sizes = list(field_sizes)
        self.dim = dim
        membership = np.zeros((sum(field_sizes), len(field_sizes)),
                              "float32")
        start = 0
        for f, size in enumerate(field_sizes):
            membership[start:start + size, f] = 1.0
            start += size
        self._membership = membership

    def build(self, input_shape) -> None:
        self.table = self.add_weight(
            shape=(sum(self.field_sizes), self.dim),
            initializer=keras.initializers.RandomUniform(-0.05, 0.05),
            name="table")
        self.membership = self.add_weight(
            shape=self._membership.shape, trainable=False,
            initializer=keras.initializers.Constant(self._membership),
            name="membership")

    def call(self, x):
        ops = keras.ops
        numeric = x[:, :self.num_numeric]
        onehot = x[:, self.num_numeric:]
        # [N, V, 1] * [V, D] -> [N, V, D], summed per field -> [N, F, D].
        looked_up = onehot[:, :, None] * self.table[None]
        fields = ops.einsum("nvd,vf->nfd", looked_up, self.membership)
        flat = ops.reshape(fields, (-1, len(self.field_sizes) * self.dim))
        return ops.concatenate([numeric, flat], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],
                self.num_numeric + len(self.field_sizes) * self.dim)

    def get_config(self):
        return {**super().get_config(), "num_numeric": self.num_numeric,
                "field_sizes": self.field_sizes, "dim": self.dim}


def field_sizes(feature_names: list[str]) -> tuple[int, list[int]]:
    """Numeric column count and per-field one-hot widths from the names."""
    numeric = sum("=" not in n for n in feature_names)
    sizes: dict[str, int] = {}
    for name in feature_names[numeric:]:
        field = name.split("=", 1)[0]
        sizes[field] = sizes.get(field, 0) + 1
    return numeric, list(sizes.values())


def make_model(method: str, num_features: int, numeric: int,
               sizes: list[int], quick: bool) -> keras_mtl.MultiTaskModel:
    dnn = (64, 32) if quick else (512, 256)
    tower = 8 if quick else 64
    tasks = [keras_mtl.Task(t, "binary", metrics=["auc"]) for t in TASKS]
    inputs = keras.Input((num_features,), name="features")
    embed = FieldEmbedding(numeric, sizes, name="field_embedding")
    if method == "single_task":
        return keras_mtl.build(inputs, tasks, architecture="hard",
                               trunk=[embed, *dnn, tower], sharing_depth=0,
                               name="single_task")
    if method in ("shared_bottom", "sb_uncertainty", "sb_upgrad"):
        return keras_mtl.build(inputs, tasks, architecture="hard",
                               trunk=[embed, *dnn, tower],
                               sharing_depth=1 + len(dnn),
                               name="shared_bottom")
    if method == "mmoe":
        return keras_mtl.build(inputs, tasks, architecture="mmoe",
                               trunk=[embed, tower], sharing_depth=1,
                               num_experts=3, expert_units=dnn)
    if method == "ple":
        return keras_mtl.build(inputs, tasks, architecture="ple",
                               trunk=[embed, tower], sharing_depth=1,
                               num_levels=2, num_shared_experts=1,
                               num_task_experts=1, expert_units=dnn[1:])
    raise ValueError(f"Unknown method {method!r}. Available: {METHODS}.")


def compile_args(method: str) -> dict:
    if method == "sb_uncertainty":
        return {"weighting": "uncertainty"}
    if method == "sb_upgrad":
        return {"aggregator": "upgrad", "aggregation_mode": "jacobian"}
    return {}
