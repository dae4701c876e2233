"""ANN-to-SNN conversion (BSNN, docs/architecture.md §6.2, §11.1): ReLU networks, their trainer, and the converter to core descriptions."""
