"""Knowledge distillation: single-task teachers into one multi-task student.

Train (or take) one single-task teacher per task, compute their predictions
once, then train a multi-task student on, per task,

```
L_t = alpha * task_loss(y, p) + (1 - alpha) * D(q, p)

D(q, p) = T^2 * KL(softmax(log q / T) || softmax(log p / T))   multiclass
        = T^2 * KL(Bern(sigmoid(logit q / T)) || Bern(sigmoid(logit p / T)))
                                                    binary, per label
        = (q - p)^2                                  regression, per target
```

with `q` the teacher's prediction, `p` the student's, `T` the temperature
(the `T^2` keeps the soft term's gradients on the scale of the hard one, as
in Hinton et al.). The student is an ordinary `MultiTaskModel`: compile it
with `loss=distillation_losses(student, alpha, temperature)` and fit it on
`distillation_targets(labels, teacher_predictions(...))`, so weightings,
aggregators and per-task logs work as usual. A sample without a task's
label still learns from the teacher (the task term is 0 there), so a
partly labelled transfer set is used in full.

Example:

```python
teachers = keras_mtl.distill.train_teachers(
    lambda task: keras_mtl.build(keras.Input((10,)), [task], trunk=(64,)),
    tasks, x, y, epochs=20)
cached = keras_mtl.distill.teacher_predictions(teachers, x)  # once
student = keras_mtl.build(keras.Input((10,)), tasks, trunk=(16,))
student.compile("adam", loss=keras_mtl.distill.distillation_losses(
    student, alpha=0.5, temperature=2.0))
student.fit(x, keras_mtl.distill.distillation_targets(y, cached), epochs=20)
print(keras_mtl.distill.format_report(keras_mtl.distill.distillation_report(
    student, teachers, x_test, y_test)))
```

References:
- Hinton, Vinyals, Dean (2015). Distilling the Knowledge in a Neural
  Network. NIPS Deep Learning Workshop. arXiv:1503.02531.
- Clark, Luong, Khandelwal, Manning, Le (2019). BAM! Born-Again Multi-Task
  Networks for Natural Language Understanding. ACL. arXiv:1907.04829.
"""

from keras_mtl.distill.loss import LABEL_KEY
from keras_mtl.distill.loss import TEACHER_KEY
from keras_mtl.distill.loss import DistillationLoss
from keras_mtl.distill.loss import distillation_losses
from keras_mtl.distill.loss import soft_target_divergence
from keras_mtl.distill.report import distillation_report
from keras_mtl.distill.report import format_report
from keras_mtl.distill.teachers import distillation_targets
from keras_mtl.distill.teachers import teacher_predictions
from keras_mtl.distill.teachers import train_teachers

__all__ = [
    "DistillationLoss",
    "LABEL_KEY",
    "TEACHER_KEY",
    "distillation_losses",
    "distillation_report",
    "distillation_targets",
    "format_report",
    "soft_target_divergence",
    "teacher_predictions",
    "train_teachers",
]
