"""Use a finished model: ``kopt predict`` and ``kopt export``.

``source`` finds the model files of a SOURCE (a train run, a study, an ensemble dir; no
TensorFlow), ``inputs`` reads an INPUT into raw arrays checked against the model's input,
``model`` builds the one Keras model that averages the members, ``card`` writes model_card.md.
"""
