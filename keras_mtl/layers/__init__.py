"""Keras layers of the multi-task architectures (all registered and
serialisable): experts and gates (MMoE, PLE), cross-stitch units, soft
sharing, MTAN task attention and modality fusion."""

from keras_mtl.layers.cross_stitch import CrossStitch
from keras_mtl.layers.experts import Experts
from keras_mtl.layers.feature_split import FeatureSplit
from keras_mtl.layers.fusion import AttentionFusion
from keras_mtl.layers.fusion import WeightedSumFusion
from keras_mtl.layers.gates import ExpertMixture
from keras_mtl.layers.gates import Gate
from keras_mtl.layers.soft_sharing import SoftSharing
from keras_mtl.layers.task_attention import TaskAttention

__all__ = [
    "AttentionFusion",
    "CrossStitch",
    "ExpertMixture",
    "Experts",
    "FeatureSplit",
    "Gate",
    "SoftSharing",
    "TaskAttention",
    "WeightedSumFusion",
]
