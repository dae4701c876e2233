"""Per-event energy accounting: counters of §10 times a technology table."""

from neurochip.energy.model import TechTable, EnergyReport, load_tech, energy_report

__all__ = ["TechTable", "EnergyReport", "load_tech", "energy_report"]
