"""Your own Keras models for kopt: each builder takes input_shape, num_outputs and keys of your own,
and returns an uncompiled keras.Model whose output is num_outputs logits (kopt adds the softmax).

    kopt train model=custom model._target_=mynets.build model.width=32
    kopt tune model=custom model._target_=mynets.build 'search.model.width=choice(16,32,64)'
"""

import keras
from keras import layers


def build(input_shape, num_outputs, width=32, dropout=0.0):
    """A small CNN on images (H, W, C), an MLP on anything else; ``width`` units/filters."""
    inputs = keras.Input(shape=input_shape)
    x = inputs
    if len(input_shape) == 3:
        for i in range(2):
            x = layers.Conv2D(width * 2**i, 3, padding="same", activation="relu")(x)
            if min(x.shape[1:3]) >= 2:
                x = layers.MaxPooling2D()(x)
        x = layers.GlobalAveragePooling2D()(x)
    else:
        x = layers.Flatten()(x)
        x = layers.Dense(width, activation="relu")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_outputs)(x)  # logits: no activation
    return keras.Model(inputs, outputs, name=f"mynet_w{width}")
