"""The cycle-accurate, event-driven chip simulator (Numba)."""

from neurochip.sim.simulator import SimulationResult, simulate, warm_up

__all__ = ["SimulationResult", "simulate", "warm_up"]
