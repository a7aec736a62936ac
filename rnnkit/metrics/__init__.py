"""Metrics of trained models, computed from predictions (no model code here)."""
