"""LiteRT private names that keras_mtl needs, one small function each.

Checked against ai-edge-litert 2.3.0 (`ai_edge_litert.interpreter`).
"""

from typing import Any


def ops_details(interpreter: Any) -> list[dict[str, Any]]:
    """The ops of a LiteRT interpreter's graph, one dict per node:
    `index`, `op_name`, `inputs`, `outputs` (tensor indices), ...

    Why private: `Interpreter` documents `get_tensor_details()` but lists
    ops only through `_get_ops_details()`; keras_mtl reads op names to
    detect a model's quantization and to name the layer behind a failing
    node.

    Checked against: ai-edge-litert 2.3.0.
    """
    return list(interpreter._get_ops_details())
