"""Host-side helpers of `keras_mtl.export`: quality numbers, errors."""

import math

import numpy as np
import pytest

import keras_mtl
from keras_mtl.export import quality
from keras_mtl.export._layers import converter_failures
from keras_mtl.export._layers import layers_in_node_names


def test_roc_auc_hand_computed():
    labels = np.array([0, 0, 1, 1])
    # Pairs (pos, neg): (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4): 3/4.
    assert quality.roc_auc(labels, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert quality.roc_auc(labels, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert math.isnan(quality.roc_auc(np.ones(3), np.arange(3.0)))


def test_binary_metrics_skip_missing_labels():
    task = keras_mtl.Task("zeta", "binary")
    labels = np.array([[1], [0], [-1], [np.nan]])
    outputs = np.array([[0.9], [0.6], [0.2], [0.1]])
    values = quality.task_metrics(task, labels, outputs)
    assert values == {"accuracy": 0.5, "auc": 1.0}


def test_multiclass_sparse_and_one_hot_agree():
    task = keras_mtl.Task("mid", "multiclass", num_classes=3)
    outputs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    sparse = np.array([0, 2, -1])
    assert quality.task_metrics(task, sparse, outputs) == {"accuracy": 0.5}
    one_hot = np.eye(3)[[0, 2, 2]]
    assert quality.task_metrics(task, one_hot, outputs) == {
        "accuracy": pytest.approx(2 / 3)}


def test_regression_mae_and_reference_labels():
    task = keras_mtl.Task("alpha", "regression")
    keras_out = np.array([[1.0], [2.0], [3.0]])
    exported = np.array([[1.5], [2.0], [2.0]])
    truth = quality.reference_labels(task, keras_out)
    assert quality.task_metrics(task, truth, exported) == {"mae": 0.5}
    labels = np.array([[1.0], [np.nan], [4.0]])
    assert quality.task_metrics(task, labels, exported) == {"mae": 1.25}


def test_degradation_direction():
    assert quality.degradation("accuracy", 0.9, 0.8) == pytest.approx(0.1)
    assert quality.degradation("mae", 0.2, 0.3) == pytest.approx(0.1)
    assert quality.degradation("auc", 0.7, 0.8) == pytest.approx(-0.1)


def test_layer_names_found_in_node_names():
    known = ["trunk_0", "trunk_0_1", "odd_layer", "zeta"]
    nodes = ["model_1/odd_layer_1/MatrixInverse",
             "model_1/trunk_0_1/MatMul;model_1/trunk_0_1/Relu",
             "model_1/zeta_2/Sigmoid", "StatefulPartitionedCall:0"]
    assert layers_in_node_names(nodes, known) == [
        "odd_layer", "trunk_0_1", "zeta"]


def test_converter_failures_parsed():
    message = (
        'loc(callsite(fused["MatrixInverse:", "m_1/odd_layer_1/'
        'MatrixInverse@__inference_serve_156"] at fused["Stateful'
        'PartitionedCall:", "StatefulPartitionedCall"])): error: '
        "'tf.MatrixInverse' op is neither a custom op nor a flex op\n"
        "TF Select ops: MatrixInverse, Svd\n")
    ops, nodes = converter_failures(message)
    assert ops == ["MatrixInverse", "Svd"]
    assert nodes == ["m_1/odd_layer_1/MatrixInverse"]
