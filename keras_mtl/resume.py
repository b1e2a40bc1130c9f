"""Random-number state that checkpoints must carry for an exact resume.

`MultiTaskModel` stores the states of its layers' seed generators
(dropout masks) beside its own variables. The helpers live in
`keras_mtl._seed_state`, the one mechanism that the model, the seeded
aggregators and RLW share; these names are kept for the model.
"""

from keras_mtl._seed_state import load_seed_states
from keras_mtl._seed_state import save_seed_states
from keras_mtl._seed_state import seed_generators

__all__ = ["load_seed_states", "save_seed_states", "seed_generators"]
