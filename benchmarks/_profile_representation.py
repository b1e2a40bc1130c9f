"""The stages of a representation-mode step, for `profile_step.py`.

In representation mode (MGDA-UB; `GradientEngine`'s docstring) each task's
loss is differentiated with respect to the shared representation `Z`
(`[B, 128]` for LeNet) and its own head, the `T` rows are stacked into
`[T, B·128]`, screened, aggregated on their Gramian, and the aggregated
`[B, 128]` cotangent goes back through the trunk once. Stages:

- `forward`: the model (with `Z`) and the task losses;
- `backward heads (T passes)`: the `T` `tape.gradient` calls to `Z` and
  each head's variables (minus `forward (one task)`);
- `stack + flatten + screen`: the rows into `[T, B·128]` float32, the
  non-finite row screen;
- `gramian`, `solver` (`weights_from_gramian`), `scatter` (`αᵀ J` back
  to `[B, 128]`);
- `aggregate (engine)`: `GradientEngine._aggregate_representation` as the
  step runs it (flatten, screen, Gramian, solver, scatter together);
- `backward trunk`: one `tape.gradient` of `Z` to the shared variables
  with the cotangent (minus `forward (one task)`);
- `guard`, `full step` as in Jacobian mode; `no-aggregator step`: the
  keras_mtl step of the same model without an aggregator (what the
  training step costs besides the aggregation); `plain fit step`: plain
  Keras `train_step` on the same graph.
"""

from typing import Any

import keras
import tensorflow as tf

from keras_mtl.training.nonfinite import dense_gradient
from keras_mtl.training.ownership import Ownership


def stages(model: Any, baseline: Any, plain: Any, x: Any, y: dict,
           guard: tuple) -> list[tuple[str, Any, tuple]]:
    """`(name, function, args)` for every stage; `baseline` is the same
    workload without an aggregator, `plain` plain Keras, `guard` the
    `(function, args)` of the guard stage."""
    ownership = Ownership.of(model)
    shared = ownership.shared
    owned = list(ownership.by_task.values())
    names = list(model.task_names)
    num_tasks = len(names)
    loss = keras.losses.SparseCategoricalCrossentropy()
    engine = model._hidden.engine

    def forward(x, y):
        out, z = model.call_with_representation(x, training=True)
        return tf.add_n([loss(y[k], out[k]) for k in names]), z

    def forward_one(x, y):  # the baseline of the backward stages
        out, z = model.call_with_representation(x, training=True)
        return loss(y[names[0]], out[names[0]]), z

    def heads(x, y):
        with tf.GradientTape(persistent=True) as tape:
            out, z = model.call_with_representation(x, training=True)
            losses = [loss(y[k], out[k]) for k in names]
        return [tape.gradient(task_loss, [z] + list(own))[0]
                for task_loss, own in zip(losses, owned)]

    rows = tf.function(heads)(x, y)
    representation = tf.function(
        lambda x: model.call_with_representation(x, training=True)[1])(x)

    def stack_screen(rows):
        stack = tf.stack([dense_gradient(r, representation) for r in rows])
        flat = tf.cast(tf.reshape(stack, [num_tasks, -1]), tf.float32)
        ok = tf.math.is_finite(tf.reduce_sum(tf.square(flat), axis=1))
        return tf.where(ok[:, None], flat, tf.zeros_like(flat))

    flat = tf.function(stack_screen)(rows)

    def gramian(flat):
        return tf.matmul(flat, flat, transpose_b=True)

    g = tf.function(gramian)(flat)

    def solver(g):
        return model.aggregator.weights_from_gramian(g)

    alpha = tf.cast(tf.function(solver)(g), tf.float32)

    def scatter(alpha, flat):
        return tf.reshape(tf.matmul(alpha[None], flat),
                          tf.shape(representation))

    stack = tf.stack(rows)

    def aggregate(stack):
        return engine._aggregate_representation(stack, 1.0, (True, None))[0]

    cotangent = tf.function(aggregate)(stack)

    def trunk(x, cotangent):
        with tf.GradientTape() as tape:
            _, z = model.call_with_representation(x, training=True)
        return tape.gradient(z, shared, output_gradients=cotangent)

    return [
        ("forward", forward, (x, y)),
        ("forward (one task)", forward_one, (x, y)),
        (f"backward heads ({num_tasks} passes)", heads, (x, y)),
        ("stack + flatten + screen", stack_screen, (rows,)),
        ("gramian", gramian, (flat,)), ("solver", solver, (g,)),
        ("scatter", scatter, (alpha, flat)),
        ("aggregate (engine)", aggregate, (stack,)),
        ("backward trunk", trunk, (x, cotangent)),
        ("guard", *guard),
        ("full step", lambda x, y: model.train_step((x, y)), (x, y)),
        ("no-aggregator step", lambda x, y: baseline.train_step((x, y)),
         (x, y)),
        ("plain fit step", lambda x, y: plain.train_step((x, y)), (x, y)),
    ]
