"""Trainers that produce float checkpoints for the chip (``neurochip train ...``)."""
