"""Multimodal inputs: one encoder per named input and a fusion step.

`keras_mtl.build(inputs, tasks, architecture, encoders=..., fusion=...)`
runs here for every architecture:

```
modality m:   e_m = encoders[m](inputs[m])        (default: the input itself)
              e_m <- Dense(width)(e_m)             (projection, when widths
                                                    must agree and differ)
"concat":       z = [e_1 ; ... ; e_M]         -> architecture(z)
"weighted_sum": z = sum_m softmax(theta)_m e_m -> architecture(z)
"attention":    z = sum_m a_m(e) e_m           -> architecture(z)
"late":         y_t = sum_m softmax(phi_t)_m architecture_m(e_m)_t
```

Early fusion builds the architecture on the fused tensor (through
`blocks.fused_features`, so builders need no fusion code of their own).
Late fusion builds one copy of the architecture per modality (a nested
`MultiTaskModel` named `"<modality>_tower"`) and combines each task's
predictions with learned weights (a layer named after the task). One
encoder object may serve several inputs: its weights are then shared
across those modalities.

References:
- Baltrusaitis, Ahuja, Morency (2019). Multimodal Machine Learning: A
  Survey and Taxonomy. IEEE TPAMI 41(2). arXiv:1705.09406.
- Ngiam, Khosla, Kim, Nam, Lee, Ng (2011). Multimodal Deep Learning. ICML.
"""

from typing import Any
from typing import Callable
from typing import Mapping
from typing import Sequence

import keras

from keras_mtl.builders.blocks import flatten_if_needed
from keras_mtl.builders.blocks import fused_features
from keras_mtl.layers._checks import check_positive_int
from keras_mtl.layers.fusion import AttentionFusion
from keras_mtl.layers.fusion import WeightedSumFusion
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks
from keras_mtl.types import Inputs
from keras_mtl.types import KerasTensor

FUSIONS = ("concat", "weighted_sum", "attention", "late")
_EQUAL_WIDTHS = ("weighted_sum", "attention")


def _check_arguments(inputs: Inputs, encoders: Any, fusion: Any,
                     fusion_units: Any) -> dict[str, keras.layers.Layer]:
    if fusion not in FUSIONS:
        raise ValueError(
            f"Argument `fusion` must be one of {FUSIONS}. Received: "
            f"fusion={fusion!r}."
        )
    check_positive_int("fusion_units", fusion_units, optional=True)
    if not isinstance(inputs, Mapping):
        raise TypeError(
            "Arguments `encoders`, `fusion` and `fusion_units` apply to "
            "multimodal inputs: pass `inputs` as a dict of named inputs, "
            "e.g. {'text': keras.Input((300,), name='text'), 'image': "
            f"keras.Input((28, 28, 1), name='image')}}. Received: "
            f"{type(inputs).__name__}."
        )
    if not inputs:
        raise ValueError("Argument `inputs` is an empty dict.")
    if encoders is None:
        return {}
    if not isinstance(encoders, Mapping):
        raise TypeError(
            "Argument `encoders` must be a dict {input_name: layer}. "
            f"Received: {type(encoders).__name__}."
        )
    unknown = sorted(set(encoders) - set(inputs))
    if unknown:
        raise ValueError(
            f"Argument `encoders` names input(s) {unknown} that the model "
            f"does not have. Inputs: {sorted(inputs)}."
        )
    for key, encoder in encoders.items():
        if not isinstance(encoder, keras.layers.Layer):
            raise TypeError(
                f"Argument `encoders`: the encoder of input {key!r} must be "
                f"a Keras layer or model. Received: {encoder!r}."
            )
    return dict(encoders)


def _embed(inputs: Mapping[str, KerasTensor],
           encoders: dict[str, keras.layers.Layer], fusion: str,
           fusion_units: int | None, projection: bool
           ) -> dict[str, KerasTensor]:
    """Encodes, flattens and (where needed) projects every modality."""
    embeddings = {}
    for key in sorted(inputs):
        tensor = inputs[key]
        if key in encoders:
            encoder = encoders[key]
            try:
                tensor = encoder(tensor)
            except Exception as error:  # Keras raises many types here.
                raise ValueError(
                    f"Argument `encoders`: encoder {encoder.name!r} of input "
                    f"{key!r} does not accept its shape "
                    f"{tuple(tensor.shape)}: {error}"
                ) from error
        embeddings[key] = flatten_if_needed(tensor, f"input_{key}", "merge")
    widths = {k: e.shape[-1] for k, e in embeddings.items()}
    target = fusion_units
    if target is None and fusion in _EQUAL_WIDTHS and \
            len(set(widths.values())) > 1:
        if any(w is None for w in widths.values()):
            raise ValueError(
                f"fusion={fusion!r} needs embeddings of known widths. "
                f"Received widths: {widths}. Set `fusion_units`."
            )
        target = max(widths.values())
    if target is None:
        return embeddings
    for key in sorted(embeddings):
        if widths[key] == target:
            continue
        if not projection:
            if key not in encoders:
                raise ValueError(
                    f"Input {key!r} has no encoder and its embedding width "
                    f"{widths[key]} differs from the common width {target} "
                    f"(widths: {widths}). Pass encoders={{{key!r}: layer}} "
                    "that maps it to that width, or projection=True."
                )
            raise ValueError(
                "Argument `encoders` gives embeddings of different widths "
                f"{widths}, and fusion={fusion!r} (fusion_units="
                f"{fusion_units}) needs width {target} without a projection "
                "(projection=False). Make the encoders output the same "
                "width, or set projection=True."
            )
        embeddings[key] = keras.layers.Dense(
            target, name=f"{key}_projection")(embeddings[key])
    return embeddings


def _late_fusion(
    builder: Callable[..., MultiTaskModel], inputs: Inputs,
    tasks: Sequence[Task], embeddings: dict[str, KerasTensor],
    options: dict[str, Any],
) -> MultiTaskModel:
    tasks = validate_tasks(tasks)
    options = dict(options)
    name = options.pop("name", None) or "late_fusion"
    predictions = {}
    for key, embedding in embeddings.items():
        tower_input = keras.Input(tuple(embedding.shape[1:]),
                                  dtype=embedding.dtype,
                                  name=f"{key}_embedding")
        tower = builder(tower_input, tasks, name=f"{key}_tower", **options)
        predictions[key] = tower(embedding)
    outputs = {
        t.name: WeightedSumFusion(name=t.name)(
            [predictions[k][t.name] for k in embeddings])
        for t in tasks}
    return MultiTaskModel(inputs, outputs, name=name, tasks=tasks)


def build_multimodal(
    builder: Callable[..., MultiTaskModel],
    inputs: Inputs,
    tasks: Sequence[Task],
    encoders: Mapping[str, keras.layers.Layer] | None = None,
    fusion: str = "concat",
    fusion_units: int | None = None,
    projection: bool = True,
    **options: Any,
) -> MultiTaskModel:
    """Builds `builder`'s architecture on encoded and fused modalities.

    Args:
        builder: A builder from `keras_mtl.builders.ARCHITECTURES`.
        inputs: A dict of named inputs (one per modality); a single input
            is passed through when no encoder or fusion is asked for.
        tasks: The `keras_mtl.Task` list.
        encoders: Optional dict `{input_name: layer}`; inputs without one
            enter as they are (flattened). One layer may serve several
            inputs (shared weights).
        fusion: `"concat"` (default), `"weighted_sum"`, `"attention"` or
            `"late"`.
        fusion_units: Common embedding width. Defaults to the widest
            embedding for `"weighted_sum"` and `"attention"` (the others
            need no common width unless this is set).
        projection: Whether embeddings whose width differs from the common
            width get a Dense projection (`"<input>_projection"`). With
            False, such widths raise an error.
        **options: The architecture's arguments.

    Returns:
        A `MultiTaskModel` on the original named inputs.
    """
    if encoders is None and fusion == "concat" and fusion_units is None:
        return builder(inputs, tasks, **options)
    encoders = _check_arguments(inputs, encoders, fusion, fusion_units)
    embeddings = _embed(inputs, encoders, fusion, fusion_units,
                        bool(projection))
    if fusion == "late":
        return _late_fusion(builder, inputs, tasks, embeddings, options)
    parts = list(embeddings.values())
    if fusion == "concat":
        fused = parts[0] if len(parts) == 1 else keras.layers.Concatenate(
            name="fusion")(parts)
    elif fusion == "weighted_sum":
        fused = WeightedSumFusion(name="fusion")(parts)
    else:
        fused = AttentionFusion(name="fusion")(parts)
    with fused_features(inputs, fused) as scope:
        model = builder(inputs, tasks, **options)
    if not scope.used:
        raise ValueError(
            f"Builder {getattr(builder, '__name__', builder)!r} does not read "
            "its inputs through keras_mtl.builders.blocks.merge_inputs, so "
            "`encoders` and `fusion` cannot apply to it. Call "
            "merge_inputs(inputs) in the builder."
        )
    return model
