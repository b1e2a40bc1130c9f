"""The set-up shared by the column architectures (cross-stitch, soft).

Both put an optional hard-shared bottom (`trunk[:sharing_depth]`) under
per-task columns made of the remaining trunk blocks; they differ only in
how the columns talk to each other (cross-stitch units or an L2 penalty).
"""

from keras_mtl.builders.blocks import Block
from keras_mtl.builders.blocks import make_blocks
from keras_mtl.builders.blocks import merge_inputs
from keras_mtl.builders.hard import check_sharing_depth
from keras_mtl.types import Inputs
from keras_mtl.types import KerasTensor
from keras_mtl.types import TrunkSpec


def check_column_depth(architecture: str, depth: int, blocks: int) -> None:
    """Column architectures need at least one block above the bottom."""
    if depth >= blocks:
        raise ValueError(
            f"Argument `sharing_depth` must be < the number of trunk blocks "
            f"({blocks}) for {architecture}: the blocks above it form the "
            f"per-task columns. Received: sharing_depth={depth}. Lower it "
            "or add trunk blocks (architecture='hard' shares everything)."
        )


def column_bottom(
    architecture: str,
    inputs: Inputs,
    trunk: TrunkSpec,
    sharing_depth: int | None,
    activation: str,
    dropout: float,
) -> tuple[KerasTensor, list[Block]]:
    """Builds the hard-shared bottom and returns `(bottom output, column
    blocks)`: the blocks above `sharing_depth` (None means 0), which the
    caller copies into one column per task.

    Raises a `ValueError` naming `architecture` when no block is left for
    the columns.
    """
    blocks = make_blocks(trunk, activation, dropout)
    depth = check_sharing_depth(
        0 if sharing_depth is None else sharing_depth, len(blocks))
    check_column_depth(architecture, depth, len(blocks))
    x = merge_inputs(inputs)
    for block in blocks[:depth]:
        x = block(x, prefix=None)
    return x, blocks[depth:]
