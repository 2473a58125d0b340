"""The ``keras.applications`` builders ``model=keras_app`` takes, by name, with the input each was
trained on (the preprocessing that ``keras.applications.<module>.preprocess_input`` applies).
A table, not an import: config validation reads it before TensorFlow loads (tests check it
against the installed Keras)."""

from __future__ import annotations

# input mode -> architectures. caffe: BGR, 0..255 minus the ImageNet mean; tf: RGB scaled to
# [-1, 1]; torch: RGB in [0, 1] standardised by the ImageNet mean and std; raw: RGB 0..255, the
# architecture holds its own preprocessing layers (include_preprocessing).
MODES = {
    "caffe": ("ResNet50", "ResNet101", "ResNet152", "VGG16", "VGG19"),
    "tf": (
        "InceptionResNetV2",
        "InceptionV3",
        "MobileNet",
        "MobileNetV2",
        "NASNetLarge",
        "NASNetMobile",
        "ResNet50V2",
        "ResNet101V2",
        "ResNet152V2",
        "Xception",
    ),
    "torch": ("DenseNet121", "DenseNet169", "DenseNet201"),
    "raw": (
        "ConvNeXtBase",
        "ConvNeXtLarge",
        "ConvNeXtSmall",
        "ConvNeXtTiny",
        "ConvNeXtXLarge",
        *(f"EfficientNetB{i}" for i in range(8)),
        *(f"EfficientNetV2{v}" for v in ("B0", "B1", "B2", "B3", "L", "M", "S")),
        "MobileNetV3Large",
        "MobileNetV3Small",
    ),
}
MODE_OF = {arch: mode for mode, archs in MODES.items() for arch in archs}
APPLICATIONS = tuple(sorted(MODE_OF))
# the least input side each accepts (Keras' own checks), where above kopt's floor of 32
MIN_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71, "NASNetLarge": 331, "NASNetMobile": 224}
