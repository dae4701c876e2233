"""Interchange with other SNN frameworks: NIR (the Neuromorphic Intermediate
Representation, PyPI ``nir``, optional extra ``neurochip[nir]``) in and out.

``nir_io`` reads and checks files, ``nir_kinds`` / ``nir_neurons`` hold one export and one
import entry per layer kind and neuron model (registered in ``neurochip/backends.py``),
``nir_export`` and ``nir_import`` assemble graphs and descriptions, ``nir_float`` runs a
NIR graph as written (float, Euler-discretised with the stated dt) and ``nir_fidelity``
compares it with the chip. Every choice is documented in docs/nir.md."""
