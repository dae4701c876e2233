"""Benchmark harness of neurochip (``make bench``): the cycle-accurate simulator against the
NumPy reference, snnTorch, Brian2 and the Verilator RTL on the same network and images,
plus a cost-scaling sweep. Benchmark-only code: the package never imports it."""
