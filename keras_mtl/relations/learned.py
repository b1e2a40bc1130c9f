"""Reading the relation matrix a soft-sharing model learned."""

from typing import Any

from keras_mtl.layers.soft_sharing import SoftSharing
from keras_mtl.relations.matrix import RelationMatrix


def relation_matrix(model: Any, layer: str | None = None) -> RelationMatrix:
    """The task relation of a soft-sharing model, labelled by task.

    With `relation="learn"` this is the learned task covariance `Ω`
    (trace 1; see `keras_mtl.layers.SoftSharing`), measure
    `"learned_covariance"`; otherwise the fixed tie matrix, measure
    `"fixed_relation"`.

    Args:
        model: A `MultiTaskModel` holding a `SoftSharing` layer (e.g.
            `keras_mtl.build(..., architecture="soft", relation="learn")`),
            also after a `.keras` reload.
        layer: Optional name of the `SoftSharing` layer (needed only when
            the model has several).

    Returns:
        A `RelationMatrix` in the model's task order.

    Example:

    ```python
    model = keras_mtl.build(inputs, tasks, architecture="soft",
                            relation="learn")
    model.compile("adam"); model.fit(x, y, epochs=5)
    keras_mtl.relations.relation_matrix(model).to_dict()
    ```
    """
    found = [lay for lay in getattr(model, "layers", [])
             if isinstance(lay, SoftSharing)
             and (layer is None or lay.name == layer)]
    if not found:
        raise ValueError(
            f"Model {getattr(model, 'name', model)!r} has no SoftSharing "
            f"layer{'' if layer is None else f' named {layer!r}'}. Build "
            "it with keras_mtl.build(..., architecture='soft', "
            "relation='learn')."
        )
    if len(found) > 1:
        raise ValueError(
            f"Model {model.name!r} has several SoftSharing layers "
            f"{[lay.name for lay in found]}; pass `layer=` to pick one."
        )
    soft = found[0]
    tasks = tuple(model.task_names)
    if len(tasks) != len(soft.columns):
        raise ValueError(
            f"Layer {soft.name!r} has {len(soft.columns)} columns but model "
            f"{model.name!r} has {len(tasks)} tasks, so its rows cannot be "
            "labelled by task. Read layer.relation_matrix() instead."
        )
    measure = ("learned_covariance" if soft.learns_relation
               else "fixed_relation")
    return RelationMatrix(tasks, soft.relation_matrix(), measure)
