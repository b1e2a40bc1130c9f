"""The one backend check: keras_mtl's training step is TensorFlow code.

`import keras_mtl` leaves `KERAS_BACKEND` alone (Keras's default backend
is TensorFlow). A `MultiTaskModel` built or compiled under another
backend fails here, with the fix, instead of deep inside a training step.
"""

import os

import keras


def require_tensorflow_backend(what: str) -> None:
    """Raises a `RuntimeError` naming `what` unless Keras runs on
    TensorFlow."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    raise RuntimeError(
        f"{what} needs Keras's TensorFlow backend, but Keras is running on "
        f"{backend!r} (KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r}, "
        "or the `backend` entry of ~/.keras/keras.json). Set "
        "KERAS_BACKEND=tensorflow before the first `import keras`; "
        "keras_mtl does not change the backend for you."
    )
