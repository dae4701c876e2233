"""One module per benchmarked implementation. Each exposes ``run(job) -> TaskResult``.
Modules that run in the Brian2 side environment (``brian2_peer``) import only NumPy,
Brian2 and the neurochip-free bench modules (netspec, outputs, protocol, measure)."""
