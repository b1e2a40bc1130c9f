"""Gradient conflict between anti-correlated tasks, and what aggregators do.

Two regression tasks from the MMoE paper's generator
(`keras_mtl.data.synthetic_mmoe`) with a negative correlation pull the
shared trunk in opposite directions. This script trains the same
hard-sharing model with the plain sum of the task gradients and with
several gradient aggregators (and GREAT, gradient adversarial training),
measures the conflict at every epoch with
`keras_mtl.callbacks.GradientConflict` on a fixed batch of training data
(the share of task pairs whose gradients on the shared variables have a
negative cosine: the conflict in the training objective that aggregators
act on), prints the test MSE of each task, and saves the diagnostic plots
(cosine heat map, weights and conflict share over epochs) per method.

A negative label correlation alone does not make the gradients conflict
(a head can flip its sign); what does is a narrow shared trunk that both
tasks need for different features, and training towards the point where
the summed gradient vanishes. The model here has a 16-unit trunk:

```
method        task_1 MSE  task_2 MSE  conflict share  final cosine
sum           ...
pcgrad        ...
...
```

`--quick` (or `KERAS_MTL_QUICK=1`) shrinks data, epochs and the method
list to a smoke test of a few seconds.

Run: python examples/gradient_conflict.py --plots-dir plots/
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_mtl  # noqa: E402

# Method name -> compile arguments. "sum" is the plain weighted sum (no
# aggregator, the fast path).
METHODS = {
    "sum": {},
    "pcgrad": {"aggregator": "pcgrad"},
    "mgda": {"aggregator": "mgda"},
    "cagrad": {"aggregator": "cagrad"},
    "upgrad": {"aggregator": "upgrad"},
    "aligned_mtl": {"aggregator": "aligned_mtl"},
    "gradvac": {"aggregator": "gradvac"},
    "graddrop": {"aggregator": "graddrop"},
    "nash_mtl": {"aggregator": "nash_mtl"},
    "config": {"aggregator": "config"},
    "rgw": {"aggregator": "rgw"},
    "sum+great": {"gradient_regularizer": "great"},
}
QUICK_METHODS = ("sum", "aligned_mtl", "config", "sum+great")


def _compile_arguments(method: str) -> dict:
    arguments = dict(METHODS[method])
    if arguments.get("gradient_regularizer") == "great":
        arguments["gradient_regularizer"] = keras_mtl.GREAT(
            strength=0.05, seed=0)
    return arguments


def train_once(method: str, data: tuple, epochs: int, seed: int,
               plots_dir: str | None) -> dict:
    """Trains one model; returns test MSE per task and conflict measures."""
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    tasks = [keras_mtl.Task(name, kind="regression", head_units=(16,),
                            metrics=["mse"]) for name in sorted(y_train)]
    model = keras_mtl.build(keras.Input((x_train.shape[1],),
                                        name="features"),
                            tasks, trunk=(16,), name="hard")
    model.compile(keras.optimizers.Adam(1e-2), **_compile_arguments(method))
    held = (x_train[:512], {k: v[:512] for k, v in y_train.items()})
    conflict = keras_mtl.callbacks.GradientConflict(held)
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=128,
                        verbose=0, callbacks=[conflict])
    result = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    if plots_dir is not None:
        keras_mtl.reporting.save_conflict_plots(
            conflict, plots_dir, prefix=method.replace("+", "_"))
    shares = history.history["grad_conflict_share"]
    return {
        "method": method,
        **{t.name: result[f"{t.name}_loss"] for t in tasks},
        "conflict_share": float(np.mean(shares)),
        "final_cosine": history.history["grad_cosine_task_1_task_2"][-1],
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--correlation", type=float, default=-0.8)
    parser.add_argument("--methods", nargs="+", default=None,
                        choices=sorted(METHODS))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--num-train", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plots-dir", default="gradient_conflict_plots")
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("KERAS_MTL_QUICK") == "1")
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # one model per method retraces
    methods = args.methods or (QUICK_METHODS if args.quick else
                               tuple(METHODS))
    epochs = args.epochs or (2 if args.quick else 15)
    num_train = args.num_train or (512 if args.quick else 4000)
    num_test = max(num_train // 4, 128)
    x, y = keras_mtl.data.synthetic_mmoe(
        num_train + num_test, args.correlation, seed=args.seed)
    parts = np.split(np.arange(len(x)), [num_train])
    data = tuple((x[i], {k: v[i] for k, v in y.items()}) for i in parts)
    label_correlation = float(np.corrcoef(y["task_1"][:, 0],
                                          y["task_2"][:, 0])[0, 1])
    print(f"{num_train} training samples, {epochs} epochs, weight cosine "
          f"{args.correlation:+.2f} (label correlation "
          f"{label_correlation:+.2f}); plots in {args.plots_dir}/")

    rows = [train_once(m, data, epochs, args.seed, args.plots_dir)
            for m in methods]
    print(f"\n{'method':<12}{'task_1 MSE':>12}{'task_2 MSE':>12}"
          f"{'conflict share':>16}{'final cosine':>14}")
    for row in rows:
        print(f"{row['method']:<12}{row['task_1']:>12.3f}"
              f"{row['task_2']:>12.3f}{row['conflict_share']:>16.2f}"
              f"{row['final_cosine']:>14.3f}")
    return rows


if __name__ == "__main__":
    main()
