"""`ExpertUtilisation`: how much weight each gate gives each expert."""

from typing import Any

import keras
import numpy as np

from keras_mtl.layers.gates import Gate


class ExpertUtilisation(keras.callbacks.Callback):
    """Logs the gates' average weight per expert at the end of each epoch.

    For every `keras_mtl.layers.Gate` in the model (MMoE: one per task;
    PLE: one per task and level, plus shared gates), the gate's softmax
    output is averaged over `data` and written to the epoch logs (so to
    History, the progress bar and TensorBoard) as
    `<gate name>_expert_<e>`, e.g. `ctr_gate_expert_0`. A gate that puts
    nearly all its weight on one expert has collapsed, the classic MMoE
    failure; `collapsed(threshold)` lists such gates.

    Computing the averages runs the model's lower part once over `data`
    at each epoch end (outside the training step).

    Args:
        data: The inputs to average over: an array, a dict of arrays
            (named inputs) or a `tf.data.Dataset` (its `(x, y)` elements
            are fine). Keep it small, e.g. a validation subset.
        batch_size: Batch size for arrays.
        log: Whether to write the averages into the epoch logs. When False
            they are only kept in `history`.

    Attributes:
        history: Dict `{gate name: [array of shape (num_experts,) per
            epoch]}`.

    Example:

    ```python
    utilisation = keras_mtl.callbacks.ExpertUtilisation(x_val[:1024])
    model.fit(x, y, epochs=10, callbacks=[utilisation])
    utilisation.history["ctr_gate"][-1]   # e.g. array([0.31, 0.22, ...])
    ```

    References:
    - Ma, Zhao, Yi, Chen, Hong, Chi (2018). Modeling Task Relationships in
      Multi-task Learning with Multi-gate Mixture-of-Experts. KDD.
    - Shazeer, Mirhoseini, Maziarz, Davis, Le, Hinton, Dean (2017).
      Outrageously Large Neural Networks: The Sparsely-Gated
      Mixture-of-Experts Layer. ICLR. arXiv:1701.06538.
    """

    def __init__(self, data: Any, batch_size: int = 256,
                 log: bool = True) -> None:
        super().__init__()
        if data is None:
            raise ValueError(
                "Argument `data` must hold model inputs to average the gates "
                "over (e.g. a validation subset). Received: data=None."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) \
                or batch_size < 1:
            raise ValueError(
                "Argument `batch_size` must be a positive int. Received: "
                f"batch_size={batch_size!r}."
            )
        self.data = data
        self.batch_size = batch_size
        self.log = bool(log)
        self.history: dict[str, list[np.ndarray]] = {}
        self._probe: keras.Model | None = None
        self._probe_owner: int | None = None

    def _gates_model(self) -> keras.Model:
        model = self.model
        if self._probe is not None and self._probe_owner == id(model):
            return self._probe
        gates = [layer for layer in model.layers if isinstance(layer, Gate)]
        if not gates:
            raise ValueError(
                f"Model {model.name!r} has no keras_mtl.layers.Gate layers; "
                "ExpertUtilisation applies to expert models "
                "(architecture='mmoe', 'cgc' or 'ple'); gates inside nested "
                "models (fusion='late' towers) are not reached."
            )
        self._probe = keras.Model(
            model.input, {gate.name: gate.output for gate in gates})
        self._probe_owner = id(model)
        return self._probe

    def utilisation(self) -> dict[str, np.ndarray]:
        """Average gate weights over `data` now: `{gate: (num_experts,)}`."""
        weights = self._gates_model().predict(
            self.data, batch_size=self.batch_size, verbose=0)
        return {name: np.asarray(w).mean(axis=0)
                for name, w in weights.items()}

    def collapsed(self, threshold: float = 0.9) -> list[str]:
        """Gates whose latest average puts more than `threshold` of the
        weight on one expert."""
        return [name for name, values in self.history.items()
                if values and float(np.max(values[-1])) > threshold]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for name, average in self.utilisation().items():
            self.history.setdefault(name, []).append(average)
            if self.log and logs is not None:
                for e, value in enumerate(average):
                    logs[f"{name}_expert_{e}"] = float(value)
