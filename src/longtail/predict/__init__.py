"""Churn-risk and expansion-propensity models: point-in-time training sets, LightGBM or regularised logistic
regression picked by time-based validation, calibration, explanations and an honest evaluation (docs/models.md).

Pure parts (labels, training sets, models, explanations, evaluation) take tables and dates; the workspace
adapters (`longtail.predict.workspace`, `.store`, `.score`) read and write files.
"""
