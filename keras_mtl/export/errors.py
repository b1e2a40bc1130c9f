"""Errors raised by `keras_mtl.export`."""


class ExportError(RuntimeError):
    """An export could not be written (conversion failed, bad destination).

    Attributes:
        layers: Names of the model layers at fault, when known.
        ops: Names of the TensorFlow ops at fault, when known.
    """

    def __init__(self, message: str, layers: tuple[str, ...] = (),
                 ops: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.layers = tuple(layers)
        self.ops = tuple(ops)


class ExportVerificationError(AssertionError):
    """The exported model does not reproduce the Keras model.

    Attributes:
        tasks: Names of the tasks whose outputs disagree.
        report: The `VerificationReport` with the per-task numbers.
    """

    def __init__(self, message: str, tasks: tuple[str, ...] = (),
                 report: object = None) -> None:
        super().__init__(message)
        self.tasks = tuple(tasks)
        self.report = report
