"""Amaranth HDL of the chip of docs/architecture.md; ``neurochip rtl`` writes its Verilog."""
