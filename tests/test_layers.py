"""keras_mtl.layers: values against hand computations, configs, saving."""

import keras
import numpy as np
import pytest

from keras_mtl import layers


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"].startswith("keras_mtl>")
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is type(layer)
    return clone


def _keras_round_trip(inputs, outputs, x, tmp_path):
    model = keras.Model(inputs, outputs)
    expected = model(x)
    path = str(tmp_path / "layer.keras")
    model.save(path)
    found = keras.saving.load_model(path)(x)
    for a, b in zip(keras.tree.flatten(expected), keras.tree.flatten(found)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a),
                                   keras.ops.convert_to_numpy(b),
                                   rtol=1e-6, atol=1e-6)


def test_experts_equal_separate_dense_networks():
    experts = layers.Experts(3, units=(4, 2), activation="tanh")
    x = _rand(5, 6)
    out = keras.ops.convert_to_numpy(experts(x))
    assert out.shape == (5, 3, 2)
    kernels = [np.asarray(k) for k in experts.kernels]
    biases = [np.asarray(b) for b in experts.biases]
    for e in range(3):
        h = np.tanh(x @ kernels[0][e] + biases[0][e])
        h = np.tanh(h @ kernels[1][e] + biases[1][e])
        np.testing.assert_allclose(out[:, e], h, rtol=1e-5, atol=1e-6)
    assert experts.count_params() == 3 * (6 * 4 + 4) + 3 * (4 * 2 + 2)
    assert not np.allclose(kernels[0][0], kernels[0][1])
    _config_round_trip(experts)


def test_experts_initial_variance_matches_a_dense_layer():
    experts = layers.Experts(16, units=64)
    experts.build((None, 64))
    # Glorot uniform: variance 2 / (fan_in + fan_out) per expert.
    np.testing.assert_allclose(np.asarray(experts.kernels[0]).var(),
                               2 / 128, rtol=0.1)


def test_gate_sums_to_one_and_mixture_weights_experts():
    gate = layers.Gate(4)
    x = _rand(8, 3)
    weights = keras.ops.convert_to_numpy(gate(x))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    assert gate.count_params() == 3 * 4
    biased = layers.Gate(4, use_bias=True)
    biased.build((None, 3))
    assert biased.count_params() == 3 * 4 + 4
    experts = _rand(8, 4, 5, seed=1)
    mixed = keras.ops.convert_to_numpy(
        layers.ExpertMixture()([experts, weights]))
    np.testing.assert_allclose(
        mixed, (experts * weights[:, :, None]).sum(axis=1), rtol=1e-5)
    _config_round_trip(gate)
    _config_round_trip(layers.ExpertMixture())


def test_cross_stitch_initialisation_and_mixing():
    a, b, c = _rand(4, 3), _rand(4, 3, seed=1), _rand(4, 3, seed=2)
    unit = layers.CrossStitch(self_weight=0.8)
    out = [keras.ops.convert_to_numpy(t) for t in unit([a, b, c])]
    alpha = np.asarray(unit.alpha)
    np.testing.assert_allclose(alpha, [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1],
                                       [0.1, 0.1, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(out[1], 0.1 * a + 0.8 * b + 0.1 * c,
                               rtol=1e-5)
    identity = layers.CrossStitch(self_weight=1.0)
    for x, y in zip([a, b], identity([a, b])):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(y), x)
    per_channel = layers.CrossStitch(per_channel=True)
    per_channel([a, b])
    assert per_channel.alpha.shape == (2, 2, 3)
    _config_round_trip(per_channel)
    with pytest.raises(ValueError, match="self_weight"):
        layers.CrossStitch(self_weight=1.5)
    with pytest.raises(ValueError, match="same shape"):
        layers.CrossStitch()([a, _rand(4, 2)])


def _columns(num):
    return [keras.Sequential([keras.layers.Dense(3), keras.layers.Dense(2)],
                             name=f"column_{i}") for i in range(num)]


def test_soft_sharing_penalty_equals_formula():
    relation = [[0, 1, 0.5], [1, 0, 2], [0.5, 2, 0]]
    soft = layers.SoftSharing(_columns(3), strength=0.3, relation=relation)
    x = _rand(4, 5)
    outputs = soft(x)
    assert len(outputs) == 3 and outputs[0].shape == (4, 2)
    weights = [[np.asarray(w) for w in c.trainable_weights]
               for c in soft.columns]
    expected = 0.0
    for i in range(3):
        for j in range(i + 1, 3):
            distance = sum(np.sum((u - v) ** 2)
                           for u, v in zip(weights[i], weights[j]))
            expected += relation[i][j] * distance
    expected *= 0.3
    np.testing.assert_allclose(float(soft.penalty()), expected, rtol=1e-5)
    np.testing.assert_allclose(float(soft.losses[0]), expected, rtol=1e-5)
    # Equal columns have no penalty.
    for column in soft.columns[1:]:
        column.set_weights(soft.columns[0].get_weights())
    assert float(soft.penalty()) == pytest.approx(0.0, abs=1e-9)


def test_soft_sharing_validation():
    with pytest.raises(ValueError, match="symmetric"):
        layers.SoftSharing(_columns(2), relation=[[0, 1], [2, 0]])
    with pytest.raises(ValueError, match="2 x 2"):
        layers.SoftSharing(_columns(2), relation=[[0, 1, 1]])
    with pytest.raises(ValueError, match=">= 0"):
        layers.SoftSharing(_columns(2), relation=[[0, -1], [-1, 0]])
    with pytest.raises(ValueError, match="strength"):
        layers.SoftSharing(_columns(2), strength=-1.0)
    different = [keras.Sequential([keras.layers.Dense(3)]),
                 keras.Sequential([keras.layers.Dense(4)])]
    with pytest.raises(ValueError, match="same architecture"):
        layers.SoftSharing(different)(_rand(2, 5))


def test_soft_sharing_round_trip_and_logged_penalty(tmp_path):
    inputs = keras.Input((5,))
    soft = layers.SoftSharing(_columns(2), strength=0.1)
    a, b = soft(inputs)
    _config_round_trip(soft)
    _keras_round_trip(inputs, [a, b], _rand(6, 5), tmp_path)
    model = keras.Model(inputs, keras.layers.Add()([a, b]))
    model.compile("sgd", "mse", run_eagerly=True)
    history = model.fit(_rand(8, 5), _rand(8, 2), epochs=1, verbose=0)
    assert history.history["soft_sharing_penalty"][0] > 0


def test_weighted_sum_fusion():
    fusion = layers.WeightedSumFusion()
    a, b = _rand(4, 3), _rand(4, 3, seed=1)
    out = keras.ops.convert_to_numpy(fusion([a, b]))
    np.testing.assert_allclose(out, 0.5 * (a + b), rtol=1e-6)
    fusion.logits.assign([np.log(3.0), 0.0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fusion([a, b])),
                               0.75 * a + 0.25 * b, rtol=1e-5)
    _config_round_trip(fusion)
    with pytest.raises(ValueError, match="common shape"):
        layers.WeightedSumFusion()([a, _rand(4, 2)])


def test_attention_fusion(tmp_path):
    fusion = layers.AttentionFusion(units=5)
    a, b = _rand(4, 3), _rand(4, 3, seed=1)
    out = keras.ops.convert_to_numpy(fusion([a, b]))
    weights = keras.ops.convert_to_numpy(fusion.attention_weights([a, b]))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        out, weights[:, :1] * a + weights[:, 1:] * b, rtol=1e-5)
    assert fusion.count_params() == 3 * 5 + 5 + 5
    _config_round_trip(fusion)
    x1, x2 = keras.Input((3,)), keras.Input((3,))
    _keras_round_trip([x1, x2], layers.AttentionFusion()([x1, x2]), [a, b],
                      tmp_path)


def test_task_attention_values_and_parameters(tmp_path):
    first = layers.TaskAttention()
    p = _rand(4, 5)
    out = keras.ops.convert_to_numpy(first(p))
    mask = keras.ops.convert_to_numpy(first.attention_mask(p))
    assert np.all((mask > 0) & (mask < 1))
    np.testing.assert_allclose(out, mask * p, rtol=1e-6)
    assert first.count_params() == (5 * 5 + 5) * 2
    later = layers.TaskAttention(units=4)
    q = _rand(4, 3, seed=1)
    assert later([q, out]).shape == (4, 3)
    # projection 5*3+3, hidden (3+3)*4+4, mask 4*3+3
    assert later.count_params() == 18 + 28 + 15
    _config_round_trip(later)
    shared, previous = keras.Input((3,)), keras.Input((5,))
    _keras_round_trip([shared, previous],
                      layers.TaskAttention()([shared, previous]),
                      [q, p], tmp_path)


def test_feature_split_inverts_concatenate():
    x = _rand(2, 7)
    parts = layers.FeatureSplit([3, 4])(x)
    np.testing.assert_allclose(
        np.concatenate([keras.ops.convert_to_numpy(t) for t in parts], -1), x)
    _config_round_trip(layers.FeatureSplit([3, 4]))
    with pytest.raises(ValueError, match="sum to"):
        layers.FeatureSplit([3, 3])(x)


def test_layers_round_trip_in_a_model(tmp_path):
    inputs = keras.Input((6,))
    experts = layers.Experts(2, units=3, dropout=0.1, seed=1)(inputs)
    weights = layers.Gate(2, use_bias=True)(inputs)
    mixed = layers.ExpertMixture()([experts, weights])
    a, b = layers.CrossStitch(per_channel=True)([mixed, mixed])
    fused = layers.WeightedSumFusion()([a, b])
    _keras_round_trip(inputs, fused, _rand(5, 6), tmp_path)


@pytest.mark.parametrize("make", [
    lambda: layers.Experts(0),
    lambda: layers.Gate(0),
    lambda: layers.Experts(2, units=()),
    lambda: layers.Experts(2, dropout=1.0),
    lambda: layers.FeatureSplit([]),
    lambda: layers.AttentionFusion(units=0),
    lambda: layers.TaskAttention(units=-1),
])
def test_bad_arguments(make):
    with pytest.raises(ValueError, match="Received"):
        make()
