"""Metrics of trained models, computed from predictions (no model code here).

``classification`` (accuracy, precision/recall/F1, BIO entities), ``forecast`` (MAE, RMSE,
MASE, ... and the naive baselines), ``anomaly`` (precision/recall/F1 of flags, by point and by
event) and ``translation`` (BLEU, chrF and exact match of output texts).
"""
