"""Map TensorFlow node names back to the Keras layers that made them.

Keras opens a name scope per layer call, so a traced op is named
`<model>/<layer>/.../<Op>`; TensorFlow makes scope names unique inside a
graph by appending `_1`, `_2`, ... The converter and the interpreter report
failures by these node names; this module finds the layer in them.
"""

import re
from typing import Iterable

import keras

_UNIQUIFIED = re.compile(r"^(.*)_\d+$")


def layer_names(model: keras.layers.Layer) -> list[str]:
    """Names of all layers inside `model`, nested models included."""
    names: list[str] = []
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop(0)
        names.append(layer.name)
        stack.extend(getattr(layer, "layers", []))
    return names


def _match(segment: str, known: set[str]) -> str | None:
    if segment in known:
        return segment
    match = _UNIQUIFIED.match(segment)
    if match and match.group(1) in known:
        return match.group(1)
    return None


def layers_in_node_names(node_names: Iterable[str],
                         known: Iterable[str]) -> list[str]:
    """The innermost known layer in each node name, without repeats.

    Args:
        node_names: TensorFlow node or tensor names such as
            `"functional_1/odd_layer_1/MatrixInverse"`; several may be
            joined by `;` (fused TFLite tensors).
        known: The model's layer names.

    Returns:
        Layer names in order of first appearance.
    """
    known = set(known)
    found: list[str] = []
    for joined in node_names:
        for name in joined.split(";"):
            segments = name.split(":")[0].split("/")
            # The first segment is the model's own scope, the last the op.
            hits = [h for h in (_match(s, known) for s in segments[1:-1])
                    if h is not None]
            if hits and hits[-1] not in found:
                found.append(hits[-1])
    return found


def converter_failures(message: str) -> tuple[list[str], list[str]]:
    """Op types and node names that a converter error message points at.

    Returns:
        `(ops, node_names)`: the TensorFlow op types the converter could not
        handle (`"MatrixInverse"`), and the node names of the failing ops.
    """
    ops: list[str] = []
    for op in re.findall(r"'tf\.(\w+)' op is neither a custom op", message):
        if op not in ops:
            ops.append(op)
    for line in re.findall(r"TF Select ops: ([^\n]+)", message):
        for op in line.split(","):
            op = op.strip()
            if op and op not in ops:
                ops.append(op)
    nodes = []
    for op, node in re.findall(r'fused\["(\w+):", "([^"@]+)@', message):
        if (not ops or op in ops) and node not in nodes:
            nodes.append(node)
    return ops, nodes
