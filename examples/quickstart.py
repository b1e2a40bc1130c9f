"""keras_mtl quick start: one model, two tasks, trained with `model.fit`.

Default data: MultiDigits, two real handwritten digits side by side (the
1,797 digits that scikit-learn ships, so nothing is downloaded); the tasks
are the left and the right digit (10 classes each). A small conv trunk is
shared by both heads. The script:

1. builds the multi-task model and trains it (Keras progress bars);
2. evaluates every task;
3. trains one single-task model per task on the same data and compares;
4. saves the model to `saved_models/quickstart.keras` and checks that the
   reloaded model predicts the same;
5. exports it to `saved_models/quickstart/` as SavedModel and TFLite, with
   each head addressable by its task name, verified against Keras.

`--data synthetic` runs the MMoE paper's synthetic regression tasks instead.
`--quick` (or `KERAS_MTL_QUICK=1`) shrinks everything for a smoke test.

Run: python examples/quickstart.py
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_mtl  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def digits_problem(quick: bool):
    (x, y), (x_test, y_test) = keras_mtl.data.load_multidigits(
        num_train=1000 if quick else 8000,
        num_test=200 if quick else 2000, seed=0)
    tasks = [
        keras_mtl.Task("left", kind="multiclass", num_classes=10),
        keras_mtl.Task("right", kind="multiclass", num_classes=10),
    ]

    def trunk():
        return [
            keras.layers.Conv2D(16, 3, padding="same", activation="relu",
                                name="conv_1"),
            keras.layers.MaxPooling2D(name="pool_1"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu",
                                name="conv_2"),
            keras.layers.MaxPooling2D(name="pool_2"),
            64,
        ]

    return (x, y), (x_test, y_test), tasks, trunk, "accuracy"


def synthetic_problem(quick: bool):
    n = 2000 if quick else 12000
    x, y = keras_mtl.data.synthetic_mmoe(n + n // 4, correlation=0.5, seed=0)
    split = n
    train = (x[:split], {k: v[:split] for k, v in y.items()})
    test = (x[split:], {k: v[split:] for k, v in y.items()})
    tasks = [keras_mtl.Task(name, kind="regression") for name in y]
    return train, test, tasks, lambda: (64, 32), "mae"


def make_model(inputs_shape, tasks, trunk, name):
    inputs = keras.Input(inputs_shape, name="image" if len(inputs_shape) == 3
                         else "features")
    model = keras_mtl.build(inputs, tasks, trunk=trunk(), name=name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("digits", "synthetic"),
                        default="digits")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("KERAS_MTL_QUICK") == "1")
    parser.add_argument("--out", default=str(ROOT / "saved_models"))
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    epochs = args.epochs or (1 if args.quick else 8)
    problem = digits_problem if args.data == "digits" else synthetic_problem
    (x, y), (x_test, y_test), tasks, trunk, metric = problem(args.quick)
    print(f"Data: {args.data}, {len(x)} training and {len(x_test)} test "
          f"samples, tasks {[t.name for t in tasks]}")

    model = make_model(x.shape[1:], tasks, trunk, "quickstart")
    model.summary()
    start = time.perf_counter()
    model.fit(x, y, validation_split=0.1, epochs=epochs, batch_size=64,
              verbose=2 if args.quick else 1)
    multi_seconds = time.perf_counter() - start
    multi = model.evaluate(x_test, y_test, verbose=0)

    rows = []
    single_params = 0
    single_seconds = 0.0
    for task in tasks:
        single = make_model(x.shape[1:], [task], trunk, f"single_{task.name}")
        start = time.perf_counter()
        single.fit(x, {task.name: y[task.name]}, validation_split=0.1,
                   epochs=epochs, batch_size=64, verbose=0)
        single_seconds += time.perf_counter() - start
        single_params += single.count_params()
        result = single.evaluate(
            x_test, {task.name: y_test[task.name]}, verbose=0)
        key = f"{task.name}_{metric}"
        rows.append((task.name, multi[key], result[key]))

    print(f"\nTest {metric} per task (multi-task model vs one single-task "
          "model per task):")
    print(f"{'task':<10}{'multi-task':>12}{'single-task':>13}")
    for name, m, s in rows:
        print(f"{name:<10}{m:>12.4f}{s:>13.4f}")
    print(f"{'params':<10}{model.count_params():>12,d}{single_params:>13,d}")
    print(f"{'train s':<10}{multi_seconds:>12.1f}{single_seconds:>13.1f}")

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "quickstart.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    before = model.predict(x_test[:32], verbose=0)
    after = reloaded.predict(x_test[:32], verbose=0)
    diff = max(float(np.abs(before[k] - after[k]).max()) for k in before)
    print(f"\nSaved {path} (reloaded: max prediction difference {diff:.1e})")

    # SavedModel and TFLite, heads addressable by task name, each verified
    # against the Keras model before it is written.
    bundle = keras_mtl.export.export_all(
        model, out / "quickstart", sample_inputs=x_test[:256],
        labels={k: v[:256] for k, v in y_test.items()}, overwrite=True)
    print(bundle)
    return {"multi": multi, "rows": rows, "reload_diff": diff,
            "export": bundle}


if __name__ == "__main__":
    main()
