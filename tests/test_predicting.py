"""kopt.models.predicting: predictions with one trace of Keras' predict function, equal to Keras' own."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from kopt.models.predicting import predict  # noqa: E402

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's tracing")


def _model(family: str):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    if family == "cnn_bn":  # batch norm and dropout: layers that act differently in inference
        h = keras.layers.Conv2D(4, 3)(inputs)
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.Dropout(0.5)(keras.layers.Flatten()(h))
    else:
        h = keras.layers.Dense(5, activation="relu")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))
    model.compile(loss="sparse_categorical_crossentropy")
    return model


def _traces(model) -> int:
    return model.predict_function.experimental_get_tracing_count()


@pytest.mark.parametrize("family", ["mlp", "cnn_bn"])
@pytest.mark.parametrize("kind", ["array", "float64 array", "dataset"])
def test_a_short_last_batch_is_predicted_by_the_first_trace_and_the_values_are_keras_own(family, kind):
    x = np.random.default_rng(0).normal(size=(70, 6, 6, 1))  # 70 = 2 x 32 + 6: a short last batch
    x = x if kind == "float64 array" else x.astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(70, "int64"))).batch(32) if kind == "dataset" else x

    plain = _model(family)
    expected = plain.predict(data, batch_size=None if kind == "dataset" else 32, verbose=0)
    assert _traces(plain) == 2  # Keras alone: one trace for 32 rows, another for any number

    model = _model(family)
    got = predict(model, data, batch_size=None if kind == "dataset" else 32)
    assert _traces(model) == 1
    np.testing.assert_array_equal(got, expected)
    later = data.take(1).unbatch().batch(5) if kind == "dataset" else x[:5]
    predict(model, later, batch_size=None if kind == "dataset" else 32)  # another size later: still that trace
    assert _traces(model) == 1


def test_several_steps_per_execution_take_one_trace_when_each_execution_has_as_many():
    x = np.random.default_rng(1).normal(size=(54, 6, 6, 1)).astype("float32")
    plain, model = _model("mlp"), _model("mlp")
    for m in (plain, model):
        m.compile(loss="sparse_categorical_crossentropy", steps_per_execution=2)
    expected = plain.predict(x, batch_size=16, verbose=0)  # batches of 16, 16, 16, 6: two executions
    got = predict(model, x, batch_size=16)
    np.testing.assert_array_equal(got, expected)
    assert (_traces(model), _traces(plain)) == (1, 2)


def test_an_eager_model_and_several_inputs_are_left_to_keras():
    x = np.random.default_rng(2).normal(size=(10, 6, 6, 1)).astype("float32")
    model = _model("mlp")
    model.compile(loss="sparse_categorical_crossentropy", run_eagerly=True)
    np.testing.assert_array_equal(predict(model, x, batch_size=4), _model("mlp").predict(x, batch_size=4, verbose=0))

    a, b = keras.Input((3,)), keras.Input((2,))
    two = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    pair = [np.ones((9, 3), "float32"), np.ones((9, 2), "float32")]
    assert predict(two, pair, batch_size=4).shape == (9, 1)
