"""Figures, tables and PDF reports of rnnprobe studies."""
