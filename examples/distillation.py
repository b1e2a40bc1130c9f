"""Distilling single-task teachers into one small multi-task student.

Problem: two tasks on 10 Gaussian features, `a` (binary, a noisy linear
boundary with a sine term) and `b` (regression, a smooth non-linear
function). The teachers are one wide MLP per task, trained on every label.
The student is one small shared-bottom model trained on a transfer set
with the same inputs where only a few labels are kept (`--labelled`,
default 6%): with the teachers' cached predictions it learns from every
input (`alpha * task loss + (1 - alpha) * distillation loss`); without
them, from the labelled rows only.

It prints, measured in this one run: per-task test metrics, parameter
counts and inference latency (median `predict_on_batch` time for 256
rows) of the student with teachers, the student without them and the
teachers.

Run: python examples/distillation.py [--quick]
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_mtl  # noqa: E402
from keras_mtl import distill  # noqa: E402

NUM_FEATURES = 10


def problem(num_samples: int, seed: int):
    weights = np.random.default_rng(99).normal(size=(2, NUM_FEATURES))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_samples, NUM_FEATURES)).astype("float32")
    a = ((x @ weights[0] + np.sin(2 * x[:, 0])) > 0).astype("int32")
    b = (np.sin(x @ weights[1] / 2) + 0.3 * x[:, 1] ** 2)[:, None]
    return x, {"a": a, "b": b.astype("float32")}


TASKS = [keras_mtl.Task("a", "binary"), keras_mtl.Task("b", "regression")]


def student(seed: int = 1):
    keras.utils.set_random_seed(seed)
    return keras_mtl.build(keras.Input((NUM_FEATURES,)), TASKS, trunk=(16,))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("KERAS_MTL_QUICK") == "1")
    parser.add_argument("--labelled", type=float, default=0.06,
                        help="share of transfer-set rows with labels")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--samples", type=int, default=None,
                        help="transfer-set size (default 4000; quick 300)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None,
                        help="latency repeats per model")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    n = args.samples or (300 if args.quick else 4000)
    epochs = args.epochs or (2 if args.quick else 20)
    repeats = args.repeats or (2 if args.quick else 30)
    x, y = problem(n, 0)
    x_test, y_test = problem(min(n, 4000), 1)

    teachers = distill.train_teachers(
        lambda task: keras_mtl.build(keras.Input((NUM_FEATURES,)), [task],
                                     trunk=(64, 64)),
        TASKS, x, y, epochs=epochs, batch_size=64,
        optimizer=keras.optimizers.Adam(3e-3))
    cached = distill.teacher_predictions(teachers, x)  # computed once
    y_few = keras_mtl.data.hide_labels(y, TASKS, args.labelled, seed=0)
    print("labelled share per task:",
          keras_mtl.data.label_rates(y_few, TASKS))

    with_teachers = student()
    with_teachers.compile(
        keras.optimizers.Adam(3e-3),
        loss=distill.distillation_losses(with_teachers, args.alpha,
                                         args.temperature))
    with_teachers.fit(x, distill.distillation_targets(y_few, cached),
                      epochs=epochs, batch_size=64, verbose=0)
    without = student()
    without.compile(keras.optimizers.Adam(3e-3))
    without.fit(x, y_few, epochs=epochs, batch_size=64, verbose=0)

    report = distill.distillation_report(with_teachers, teachers, x_test,
                                         y_test, repeats=repeats)
    plain = distill.distillation_report(without, {}, x_test, y_test,
                                        repeats=repeats)
    rows = {"student + teachers": report.pop("student"),
            "student alone": plain["student"], **report}
    print(distill.format_report(rows))
    return rows


if __name__ == "__main__":
    main()
