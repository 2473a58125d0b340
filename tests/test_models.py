"""The model zoo in-process: paper parameter counts, FLOPs, depth rules, input shapes, regularizer."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from kopt.compose import compose_job
from kopt.errors import KoptError
from kopt.paths import config_dir
from kopt.schemas.depth import densenet_layers, resnet_blocks, wrn_blocks

keras = pytest.importorskip("keras")

from kopt.models import build_model  # noqa: E402
from kopt.models.flops import count_flops, count_macs  # noqa: E402
from kopt.models.summary import describe  # noqa: E402

CIFAR = (32, 32, 3)
NO_REG = {"name": "none", "l1": 0.0, "l2": 0.0, "dropout": 0.0, "batchnorm": True, "bn_momentum": 0.99}

# The published sizes (for 32x32x3 input and 10 classes): (preset, published figure, as printed).
PAPER = [
    ("resnet20", 0.27e6, "0.27M"),  # He et al. 2015, table 6
    ("resnet32", 0.46e6, "0.46M"),
    ("resnet44", 0.66e6, "0.66M"),
    ("resnet56", 0.85e6, "0.85M"),
    ("resnet110", 1.7e6, "1.7M"),
    ("densenet_bc100", 0.8e6, "0.8M"),  # Huang et al. 2017, table 2
    ("densenet40", 1.0e6, "1.0M"),
    ("wrn_40_4", 8.9e6, "8.9M"),  # Zagoruyko & Komodakis 2016, table 4
    ("wrn_16_8", 11.0e6, "11.0M"),
    ("wrn_28_10", 36.5e6, "36.5M"),
]

# More rows of the same tables, built from the family configs with overrides.
PAPER_EXTRA = [
    (["model=densenet", "model.depth=100", "model.bottleneck=false", "model.compression=1.0"], 7.0e6, "7.0M"),
    (["model=wrn", "model.depth=40", "model.width=1"], 0.6e6, "0.6M"),
    (["model=wrn", "model.depth=16", "model.width=4"], 2.7e6, "2.7M"),
    (["model=wrn", "model.depth=22", "model.width=8"], 17.2e6, "17.2M"),
]


def compose(*overrides: str):
    return compose_job("config", list(overrides), [config_dir()])


def within_paper(count: int, published: float, printed: str) -> bool:
    """Within 3%, or within the rounding of the printed figure (0.8M covers 0.75M-0.85M)."""
    decimals = len(printed.rstrip("M").partition(".")[2])
    half_unit = 0.5 * 10 ** (-decimals) * 1e6
    return abs(count - published) <= max(0.03 * published, half_unit)


def trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def reg(**kw):
    return OmegaConf.create({**NO_REG, **kw})


def model_cfg(**kw):
    return OmegaConf.create(kw)


@pytest.fixture(autouse=True)
def _fresh_session():
    """Keras' global state (layer-name counters, the graph) reset after each test, without the full
    garbage collection clear_session adds by default: in a test process that holds TensorFlow one
    gc.collect() took about 0.6 s (57 s of this module's 86 tests, profiled); Python's own
    collections free the tests' models as they go. (No module-scoped fixture here: that would put
    the whole module in one xdist group, tests/conftest.py's shared_group.)"""
    yield
    keras.backend.clear_session(free_memory=False)


@pytest.mark.parametrize("preset,published,printed", PAPER, ids=[p[0] for p in PAPER])
def test_presets_match_the_paper_parameter_counts(preset, published, printed):
    cfg = compose(f"model={preset}")
    model = build_model(cfg.model, cfg.regularizer, CIFAR, 10)
    assert within_paper(trainable(model), published, printed), (trainable(model), printed)
    # what kopt reports (batch-norm statistics included) is within the same tolerance
    assert within_paper(model.count_params(), published, printed), (model.count_params(), printed)


@pytest.mark.parametrize("overrides,published,printed", PAPER_EXTRA, ids=[p[2] for p in PAPER_EXTRA])
def test_more_paper_rows(overrides, published, printed):
    cfg = compose(*overrides)
    model = build_model(cfg.model, cfg.regularizer, CIFAR, 10)
    assert within_paper(trainable(model), published, printed), (trainable(model), printed)


def test_tolerance_rule_rejects_a_wrong_count():
    assert within_paper(769_162, 0.8e6, "0.8M") and not within_paper(700_000, 0.8e6, "0.8M")
    assert not within_paper(36_479_194 * 1.04, 36.5e6, "36.5M")


def test_shortcut_b_adds_exactly_the_projections():
    a = build_model(model_cfg(name="resnet", depth=20, version=1, shortcut="A"), reg(), CIFAR, 10)
    b = build_model(model_cfg(name="resnet", depth=20, version=1, shortcut="B"), reg(), CIFAR, 10)
    # two 1x1 convs (16->32, 32->64) without bias, each followed by batch norm (4 values per channel)
    assert b.count_params() - a.count_params() == (16 * 32 + 4 * 32) + (32 * 64 + 4 * 64)
    assert not [l for l in a.layers if l.name.endswith("_proj")]


def test_v2_is_pre_activation():
    v1 = build_model(model_cfg(name="resnet", depth=14, version=1, shortcut="A"), reg(), CIFAR, 10)
    v2 = build_model(model_cfg(name="resnet", depth=14, version=2, shortcut="A"), reg(), CIFAR, 10)

    def after_add(model):
        return [
            node.operation
            for layer in model.layers
            if isinstance(layer, keras.layers.Add)
            for node in layer._outbound_nodes
        ]

    assert all(isinstance(op, keras.layers.Activation) for op in after_add(v1))  # v1: add, then ReLU
    assert not any(isinstance(op, keras.layers.Activation) for op in after_add(v2))  # v2: un-activated sum
    assert any(isinstance(op, keras.layers.BatchNormalization) for op in after_add(v2))
    assert "final_bn" in [l.name for l in v2.layers] and "final_bn" not in [l.name for l in v1.layers]


def resnet20_macs() -> int:
    """Multiply-adds of ResNet-20 on 32x32x3, from the architecture of He et al. 2015."""
    conv = lambda hw, cin, cout, k=3: hw * hw * k * k * cin * cout  # noqa: E731
    return (
        conv(32, 3, 16)  # stem
        + 6 * conv(32, 16, 16)  # stage 1: 3 blocks x 2 convs
        + conv(16, 16, 32)
        + 5 * conv(16, 32, 32)  # stage 2 (first conv strided)
        + conv(8, 32, 64)
        + 5 * conv(8, 64, 64)  # stage 3
        + 64 * 10
    )  # dense


def test_resnet20_flops_match_the_architecture():
    model = build_model(model_cfg(name="resnet", depth=20, version=1, shortcut="A"), reg(), CIFAR, 10)
    assert count_macs(model) == resnet20_macs()
    assert count_flops(model) == 2 * resnet20_macs()
    assert 40e6 < resnet20_macs() < 41e6  # "41M" in the usual tables


def test_flops_counter_on_every_layer_kind():
    layers = keras.layers
    inner = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(4, 3, padding="same"),
            layers.DepthwiseConv2D(3),
            layers.SeparableConv2D(5, 3),
        ]
    )
    inputs = keras.Input((8, 8, 3))
    inner(inputs)  # a call outside the model's graph must not be counted
    shared = layers.Conv2D(3, 1, name="shared")
    x = inner(shared(shared(inputs)))
    x = layers.Conv2DTranspose(2, 2, strides=2)(x)
    outputs = layers.Dense(7)(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    inner_macs = 8 * 8 * 27 * 4 + 6 * 6 * 9 * 4 + (4 * 4 * 9 * 4 + 4 * 4 * 4 * 5)
    expected = 2 * (8 * 8 * 3 * 3) + inner_macs + 4 * 4 * (2 * 2 * 5 * 2) + (8 * 8 * 2) * 7
    assert count_macs(model) == expected


@pytest.mark.parametrize(
    "rule,step,offset,paper",
    [
        (resnet_blocks, 6, 2, [20, 32, 44, 56, 110, 1202]),
        (wrn_blocks, 6, 4, [16, 22, 28, 40]),
        (lambda d: densenet_layers(d, True), 6, 4, [100, 190, 250]),
        (lambda d: densenet_layers(d, False), 3, 4, [40, 100]),
    ],
    ids=["resnet", "wrn", "densenet_bc", "densenet"],
)
def test_depth_rules_accept_exactly_the_formula(rule, step, offset, paper):
    for depth in [*range(-2, 260), *paper]:
        expected = depth >= step + offset and (depth - offset) % step == 0
        try:
            per_stage = rule(depth)
        except KoptError:
            assert not expected, depth
        else:
            assert expected and per_stage == (depth - offset) // step, depth


def test_depth_error_names_the_formula_and_the_nearest_depths():
    with pytest.raises(KoptError) as exc:
        resnet_blocks(21)
    text = str(exc.value)
    assert "model.depth=21" in text and "6n+2" in text and "20, 32, 44, 56, 110" in text
    assert text.endswith("nearest: 20 or 26")
    with pytest.raises(KoptError, match="nearest: 94 or 100"):
        densenet_layers(99, True)
    with pytest.raises(KoptError, match="nearest: 10$"):
        wrn_blocks(3)


SMALL = [
    model_cfg(name="resnet", depth=8, version=1, shortcut="A"),
    model_cfg(name="resnet", depth=8, version=2, shortcut="B"),
    model_cfg(
        name="densenet", depth=10, growth_rate=4, compression=0.5, bottleneck=True, dropout=0.0, init_filters=None
    ),
    model_cfg(
        name="densenet", depth=7, growth_rate=4, compression=1.0, bottleneck=False, dropout=0.0, init_filters=None
    ),
    model_cfg(name="wrn", depth=10, width=1, dropout=0.0),
    model_cfg(name="cnn", width=4, depth=3, convs_per_block=1, kernel_size=3, dense=8),
]
SMALL_IDS = ["resnet_v1", "resnet_v2", "densenet_bc", "densenet", "wrn", "cnn"]


@pytest.mark.parametrize("cfg", SMALL, ids=SMALL_IDS)
@pytest.mark.parametrize("shape", [(8, 8, 1), (7, 9, 1), (1, 1, 2), (32, 32, 3), (40, 24, 3)])
def test_builders_take_any_image_shape(cfg, shape):
    model = build_model(cfg, reg(), shape, 5)
    out = model(np.zeros((2, *shape), "float32"), training=False)
    assert tuple(out.shape) == (2, 5)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)
    assert isinstance(model.get_layer("gap"), keras.layers.GlobalAveragePooling2D)


@pytest.mark.parametrize("cfg", SMALL, ids=SMALL_IDS)
def test_tabular_input_is_refused(cfg):
    with pytest.raises(KoptError, match="needs image input"):
        build_model(cfg, reg(), (13,), 3)


def kernel_layers(model):
    return [
        l
        for l in model.layers
        if getattr(l, "kernel", None) is not None or getattr(l, "depthwise_kernel", None) is not None
    ]


@pytest.mark.parametrize("cfg", SMALL, ids=SMALL_IDS)
def test_regularizer_init_and_batchnorm_switch(cfg):
    model = build_model(cfg, reg(name="l1l2", l1=1e-5, l2=1e-4), (16, 16, 3), 10)
    kernels = kernel_layers(model)
    assert kernels
    for layer in kernels:
        assert isinstance(layer.kernel_regularizer, keras.regularizers.L1L2), layer.name
        assert layer.kernel_regularizer.l1 == pytest.approx(1e-5) and layer.kernel_regularizer.l2 == pytest.approx(1e-4)
        assert isinstance(layer.kernel_initializer, keras.initializers.HeNormal), layer.name
    bn_layers = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bn_layers
    convs = [l for l in kernels if isinstance(l, keras.layers.Conv2D)]
    assert all(not l.use_bias for l in convs)  # a bias before batch norm is redundant

    plain = build_model(cfg, reg(batchnorm=False), (16, 16, 3), 10)
    assert not [l for l in plain.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert all(l.use_bias for l in kernel_layers(plain) if isinstance(l, keras.layers.Conv2D))
    assert all(l.kernel_regularizer is None for l in kernel_layers(plain))


@pytest.mark.parametrize("cfg", SMALL, ids=SMALL_IDS)
def test_bn_momentum_reaches_every_batchnorm_layer(cfg):
    model = build_model(cfg, reg(bn_momentum=0.9), (16, 16, 3), 10)
    bn_layers = [l for l in model._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    assert bn_layers
    assert all(l.momentum == pytest.approx(0.9) for l in bn_layers), [l.name for l in bn_layers if l.momentum != 0.9]


def test_bn_momentum_default_is_in_every_regularizer_yaml():
    for name in ("none", "l1", "l2", "l1l2"):
        assert compose(f"regularizer={name}").regularizer.bn_momentum == pytest.approx(0.9), name


@pytest.mark.parametrize("cfg", SMALL, ids=SMALL_IDS)
def test_regularizer_dropout_before_the_classifier(cfg):
    model = build_model(cfg, reg(dropout=0.25), (16, 16, 3), 10)
    head = model.get_layer("head_dropout")
    assert head.rate == 0.25
    assert model.get_layer("predictions").input is head.output


def test_wrn_dropout_sits_between_the_two_convs():
    cfg = model_cfg(name="wrn", depth=16, width=2, dropout=0.3)
    model = build_model(cfg, reg(), CIFAR, 10)
    drops = [l for l in model.layers if isinstance(l, keras.layers.Dropout)]
    assert len(drops) == 3 * wrn_blocks(16) and all(d.rate == 0.3 for d in drops)
    for d in drops:
        block = d.name.rsplit("_", 1)[0]
        assert model.get_layer(f"{block}_conv2").input is d.output
        assert d.input is model.get_layer(f"{block}_mid_relu").output
    no_drop = build_model(model_cfg(name="wrn", depth=16, width=2, dropout=0.0), reg(), CIFAR, 10)
    assert not [l for l in no_drop.layers if isinstance(l, keras.layers.Dropout)]
    assert no_drop.count_params() == model.count_params()


def test_densenet_dropout_follows_every_conv_but_the_stem():
    cfg = model_cfg(
        name="densenet", depth=16, growth_rate=4, compression=0.5, bottleneck=True, dropout=0.2, init_filters=None
    )
    model = build_model(cfg, reg(), CIFAR, 10)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    drops = [l for l in model.layers if isinstance(l, keras.layers.Dropout)]
    assert len(drops) == len(convs) - 1
    assert all(type(d.input._keras_history.operation) is keras.layers.Conv2D for d in drops)


def test_densenet_structure_follows_the_paper():
    # DenseNet-BC-100, k=12: stem 2k = 24 channels, 16 layers per block, transitions halve the channels
    model = build_model(
        model_cfg(
            name="densenet", depth=100, growth_rate=12, compression=0.5, bottleneck=True, dropout=0.0, init_filters=None
        ),
        reg(),
        CIFAR,
        10,
    )
    assert model.get_layer("stem_conv").filters == 24
    assert model.get_layer("block1_layer16_conv1x1").filters == 48  # bottleneck 4k
    assert model.get_layer("transition1_conv").filters == (24 + 16 * 12) // 2
    assert model.get_layer("transition2_conv").filters == (108 + 16 * 12) // 2
    assert model.get_layer("final_bn").input.shape[-1] == 150 + 16 * 12
    plain = build_model(
        model_cfg(
            name="densenet", depth=40, growth_rate=12, compression=1.0, bottleneck=False, dropout=0.0, init_filters=None
        ),
        reg(),
        CIFAR,
        10,
    )
    assert plain.get_layer("stem_conv").filters == 16
    assert plain.get_layer("final_bn").input.shape[-1] == 16 + 3 * 12 * 12


def test_wrn_widths_follow_the_paper():
    model = build_model(model_cfg(name="wrn", depth=10, width=10, dropout=0.0), reg(), CIFAR, 10)
    assert model.get_layer("stem_conv").filters == 16
    assert [model.get_layer(f"group{g}_block1_conv1").filters for g in (1, 2, 3)] == [160, 320, 640]
    assert model.get_layer("group1_block1_proj").kernel.shape == (1, 1, 16, 160)
    assert model.get_layer("final_bn").input.shape[1:] == (8, 8, 640)


@pytest.mark.parametrize(
    "family,small,large",
    [
        ("mlp", {"width": 16, "depth": 1}, {"width": 256, "depth": 3}),
        (
            "cnn",
            {"width": 8, "depth": 1, "convs_per_block": 2, "kernel_size": 3, "dense": 0},
            {"width": 64, "depth": 3, "convs_per_block": 2, "kernel_size": 3, "dense": 0},
        ),
    ],
)
def test_mlp_and_cnn_width_and_depth_knobs(family, small, large):
    def size(**knobs):
        return describe(model_cfg(name=family, **{**small, **knobs}), reg(), (8, 8, 1), 10)

    base, wide, deep = size(), size(width=large["width"]), size(depth=large["depth"])
    assert wide["params"] > 4 * base["params"] and wide["depth"] == base["depth"]
    assert deep["params"] > base["params"] and deep["depth"] > base["depth"]


def test_describe_reports_bytes_and_trainable():
    info = describe(model_cfg(name="resnet", depth=20, version=1, shortcut="A"), reg(), CIFAR, 10)
    assert info["weights_bytes"] == 4 * info["params"]  # float32
    assert info["trainable_params"] < info["params"] and info["depth"] == 20
    assert info["flops"] == 2 * resnet20_macs()


def test_describe_draws_no_initial_weights_and_builds_in_full_a_model_that_needs_them(monkeypatch):
    """Counts need shapes only: describe never draws a model's initial weights (most of a large
    model's build), and a builder that makes a variable from a value is built again in full."""
    import kopt.models

    tf = pytest.importorskip("tensorflow")
    drawn = []  # the initial values computed (tracing the symbolic call computes none)

    class Counted(keras.initializers.Initializer):
        def __call__(self, shape, dtype=None):
            if tf.executing_eagerly():
                drawn.append(tuple(shape))
            return keras.ops.zeros(shape, dtype=dtype)

    class Offset(keras.layers.Layer):
        def build(self, shape):
            self.offset = keras.Variable(np.zeros(shape[-1:], "float32"), trainable=False)  # from a value

        def call(self, x):
            return x + self.offset

    def builder(offset: bool):
        def build(cfg, input_shape, num_classes, reg):
            inputs = keras.Input(input_shape)
            x = Offset()(inputs) if offset else inputs
            return keras.Model(inputs, keras.layers.Dense(num_classes, kernel_initializer=Counted())(x))

        return build

    cfg = model_cfg(name="mlp", width=4, depth=1)
    monkeypatch.setattr(kopt.models, "get_builder", lambda name: builder(False))
    info = describe(cfg, reg(), (3,), 2)
    assert info["params"] == 3 * 2 + 2 and info["flops"] == 2 * 3 * 2 and drawn == []
    monkeypatch.setattr(kopt.models, "get_builder", lambda name: builder(True))
    info = describe(cfg, reg(), (3,), 2)
    assert info["params"] == 3 + 3 * 2 + 2 and info["trainable_params"] == 3 * 2 + 2
    assert drawn == [(3, 2)]  # the full build's, once


def test_fused_batchnorm_matches_keras_batchnorm():
    import tensorflow as tf

    from kopt.models.batchnorm import FusedBatchNormalization

    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, size=(8, 5, 6, 4)).astype("float32"))
    keras_bn, fused = keras.layers.BatchNormalization(momentum=0.9), FusedBatchNormalization(momentum=0.9)
    weights = np.random.default_rng(1).normal(size=4).astype("float32")
    for layer in (keras_bn, fused):
        layer.build(x.shape)
        layer.gamma.assign(weights)
        layer.beta.assign(weights / 2)
    scale = tf.range(4, dtype="float32")
    results = []
    for layer in (keras_bn, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * y * scale)
        results.append([y, *tape.gradient(loss, [x, layer.gamma, layer.beta])])
    # outputs, then the gradients for the input (a difference of large terms: float32 rounding shows at
    # 1e-3 of its largest value), gamma and beta
    for (a, b), tol in zip(zip(*results), (1e-5, 5e-3, 1e-5, 1e-5)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=tol, atol=tol * float(np.abs(a).max()))
    for name in ("moving_mean", "moving_variance"):  # Keras averages the biased batch variance
        np.testing.assert_allclose(getattr(fused, name).numpy(), getattr(keras_bn, name).numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(fused(x, training=False)), np.asarray(keras_bn(x, training=False)), rtol=1e-5, atol=1e-5
    )
    flat = tf.reshape(x, (8, -1))  # 2-D input (after a dense layer): the Keras computation
    np.testing.assert_allclose(
        np.asarray(FusedBatchNormalization()(flat, training=True)),
        np.asarray(keras.layers.BatchNormalization()(flat, training=True)),
        rtol=1e-6,
    )


def test_builders_use_fused_batchnorm_and_save_plain_keras():
    from kopt.models.batchnorm import FusedBatchNormalization, has_fused_batchnorm, plain_keras_copy

    model = build_model(model_cfg(name="resnet", depth=8, version=1, shortcut="A"), reg(l2=1e-4), (8, 8, 1), 10)
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    model(x, training=True)  # moving statistics away from their initial values
    assert has_fused_batchnorm(model)
    copy = plain_keras_copy(model)
    assert not has_fused_batchnorm(copy)
    assert sum(isinstance(l, keras.layers.BatchNormalization) for l in copy.layers) == sum(
        isinstance(l, FusedBatchNormalization) for l in model.layers
    )
    assert copy.count_params() == model.count_params() and len(copy.losses) == len(model.losses)
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


# (model, a stride-2 block, the layer whose output enters it, the last layer of its shortcut)
STRIDED = [
    (model_cfg(name="resnet", depth=8, version=1, shortcut="A"), "stage2_block1", "stage1_block1_out", "_to2d"),
    (model_cfg(name="resnet", depth=8, version=1, shortcut="B"), "stage3_block1", "stage2_block1_out", "_proj"),
    (model_cfg(name="resnet", depth=8, version=2, shortcut="A"), "stage3_block1", "stage2_block1_add", "_to2d"),
    (model_cfg(name="resnet", depth=8, version=2, shortcut="B"), "stage2_block1", "stage1_block1_add", "_proj"),
    (model_cfg(name="wrn", depth=10, width=1, dropout=0.0), "group2_block1", "group1_block1_add", "_proj"),
]


@pytest.mark.parametrize("cfg, block, before, shortcut", STRIDED, ids=["v1A", "v1B", "v2A", "v2B", "wrn"])
def test_stride2_blocks_read_the_same_pixels_on_both_branches(cfg, block, before, shortcut):
    """The 3x3 stride-2 conv must centre on the pixels the shortcut keeps (even ones): with 'same'
    padding TensorFlow pads only after, so the conv centred on odd pixels, one off the shortcut.
    A delta at an even position must appear at the same place in both branches."""
    model = build_model(cfg, reg(batchnorm=False), (16, 16, 1), 10)
    conv1, entry = model.get_layer(f"{block}_conv1"), model.get_layer(before)
    sub = keras.Model(entry.output, [conv1.output, model.get_layer(block + shortcut).output])
    for layer in (conv1, model.get_layer(f"{block}_proj") if shortcut == "_proj" else None):
        if layer is not None:  # weights that copy input channel 0 from the kernel's centre tap only
            kernel = np.zeros(layer.kernel.shape, "float32")
            kernel[kernel.shape[0] // 2, kernel.shape[1] // 2, 0, :] = 1.0
            layer.set_weights([kernel, *[np.zeros_like(w) for w in layer.get_weights()[1:]]])
    side = entry.output.shape[1]
    for r, c in [(0, 0), (2, 4), (side - 2, 2), (4, side - 2)]:
        x = np.zeros((1, side, side, entry.output.shape[-1]), "float32")
        x[0, r, c, 0] = 1.0
        seen = [[tuple(p) for p in np.argwhere(np.abs(np.asarray(out)[0]).sum(-1) > 0)] for out in sub(x)]
        assert seen == [[(r // 2, c // 2)]] * 2, (r, c, seen)
