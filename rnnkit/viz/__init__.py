"""Plots of runs: matplotlib (Agg backend) figures written as PNG files."""

from rnnkit.viz.curves import plot_loss_curves

__all__ = ["plot_loss_curves"]
