"""One NIR export entry and one import entry per neuron model (``MODEL_NIR``, registered
in ``neurochip/backends.py``).

NIR is continuous-time; the chip steps. With Euler steps of ``dt`` (docs/nir.md):

* ``LIF``  τ dv/dt = (v_leak − v) + R·I  →  v ← β·v + (1 − β)·v_leak + g·I,
  β = 1 − dt/τ, g = R·dt/τ (snnTorch writes τ = dt/(1 − β), R = τ/dt, so g = 1);
* ``IF``   dv/dt = R·I  →  v ← v + R·I per step (dt-free, as snnTorch, Norse and Sinabs
  run it);
* ``CubaLIF`` adds a synaptic current I ← α·I + (dt/τ_syn)·w_in·x, α = 1 − dt/τ_syn; the
  chip's ``lif`` has no current register, so only α = 0 (τ_syn = dt) is expressible.

β = 0 is the chip's ``discontinuous`` integration (exact), β = 1 ``leak = none``
(exact); any other β becomes a ``shift`` leak v − (v >> λ) ≈ (1 − 2^−λ)·v or, on request,
a ``subtract`` leak, with the error stated in the fidelity report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from neurochip.interchange.nir_io import NirError, floats

SNAP = 1e-6  # float32-stored τ, R: dt/τ within this of 0 or 1 (and g of 1) is taken as exact
NEURON_TYPES = ("IF", "LIF", "CubaLIF")


@dataclass
class NeuronFloat:
    """A foreign neuron node after Euler discretisation, per neuron (NIR layout, flat)."""

    node_type: str
    beta: float  # one per layer (the chip has one leak per layer)
    gain: np.ndarray  # multiplies the summed input
    drive: np.ndarray  # constant added every step ((1 − β)·v_leak)
    threshold: np.ndarray
    v_reset: np.ndarray
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NirModel:
    """How one neuron model goes to NIR, comes back exactly, and is read from a foreign node."""

    export: Callable[..., tuple[Any, list[str]]]
    read_back: Callable[..., np.ndarray]
    from_foreign: Callable[..., NeuronFloat]
    settings: Callable[..., tuple[Any, list[str], bool]]


def _tile(per_channel: np.ndarray, nir_shape: tuple[int, ...]) -> np.ndarray:
    """Per-channel values → per-neuron values in NIR layout ((N,) or (C, H, W))."""
    v = np.asarray(per_channel, dtype=np.float64)
    if len(nir_shape) == 1:
        return v.copy()
    c, h, w = nir_shape
    return np.ascontiguousarray(np.broadcast_to(v[:, None, None], (c, h, w)))


def lif_export(nir, lay, dt: float, nir_shape: tuple[int, ...]) -> tuple[Any, list[str]]:
    """The standard primitive that behaves like the layer (IF or LIF), and what a reader
    without the neurochip metadata loses."""
    p = lay.neuron
    theta = _tile(lay.threshold, nir_shape)
    zeros, ones = np.zeros_like(theta), np.ones_like(theta)
    lost = []
    if p.reset == "subtract" and p.integration == "continuous":
        lost.append("reset by subtraction (NIR writes v_reset = 0; frameworks differ)")
    if p.integration == "discontinuous":  # β = 0: nothing carries over, exactly
        node = nir.LIF(tau=ones * dt, r=ones, v_leak=zeros, v_threshold=theta, v_reset=zeros)
    elif p.leak == "shift":  # v − (v >> λ) ≈ (1 − 2^−λ)·v: τ = dt·2^λ, R = τ/dt (gain 1)
        k = float(2 ** p.leak_amount)
        node = nir.LIF(tau=ones * dt * k, r=ones * k, v_leak=zeros, v_threshold=theta,
                       v_reset=zeros)
        lost.append(f"the shift leak's floor rounding (exported as β = 1 − 2^-{p.leak_amount})")
    else:
        node = nir.IF(r=ones, v_threshold=theta, v_reset=zeros)
        if p.leak == "subtract":
            lost.append(f"the subtractive leak λ = {p.leak_amount} (no NIR primitive)")
    return node, lost


def lif_read_back(node, name: str, origin: str) -> np.ndarray:
    """Per-channel thresholds of a neurochip-exported neuron node (exact integers)."""
    from neurochip.interchange.nir_kinds import _exact_ints

    theta = floats(node, "v_threshold", name, origin)
    if theta.ndim == 3:
        flat = theta.reshape(theta.shape[0], -1)
        if not np.all(flat == flat[:, :1]):
            raise NirError(f"{origin}: node {name!r} v_threshold varies within a channel; the "
                           "chip keeps one threshold per channel")
        theta = flat[:, 0] if flat.shape[1] else flat.reshape(-1)
    return _exact_ints(theta.reshape(-1), f"node {name!r} v_threshold", origin)


def _uniform(values: np.ndarray, what: str, name: str, origin: str) -> float:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise NirError(f"{origin}: node {name!r} has an empty '{what}'")
    if np.all(v == v[0]):
        return float(v[0])
    if np.ptp(v) > SNAP * max(1.0, float(np.abs(v).max())):
        raise NirError(f"{origin}: node {name!r}: {what} varies across neurons "
                       f"({v.min():.6g} … {v.max():.6g}); the chip has one leak per layer, "
                       "so every neuron of the node needs the same time constant")
    return float(v[0])


def _beta(tau: float, dt: float, name: str, origin: str, what: str = "tau") -> float:
    if tau == math.inf:
        return 1.0
    if not tau > 0:
        raise NirError(f"{origin}: node {name!r}: {what} = {tau:g}; a time constant must be > 0")
    beta = 1.0 - dt / tau
    if beta < -SNAP:
        raise NirError(f"{origin}: node {name!r}: {what} = {tau:g} is shorter than dt = {dt:g} "
                       "(β = 1 − dt/τ < 0, an unstable Euler step); pass a smaller --dt")
    return 0.0 if abs(beta) <= SNAP else 1.0 if abs(1 - beta) <= SNAP else beta


def _snap_gain(g: np.ndarray) -> np.ndarray:
    return np.where(np.abs(g - 1.0) <= SNAP, 1.0, g)


def lif_foreign(node, name: str, dt: float, origin: str) -> NeuronFloat:
    """IF, LIF or CubaLIF after Euler discretisation with ``dt``."""
    kind = type(node).__name__
    theta = floats(node, "v_threshold", name, origin).reshape(-1)
    v_reset = getattr(node, "v_reset", None)
    v_reset = np.zeros_like(theta) if v_reset is None else np.asarray(v_reset, np.float64).reshape(-1)
    r = floats(node, "r", name, origin).reshape(-1)
    notes: list[str] = []
    if kind == "IF":
        return NeuronFloat(kind, 1.0, r.copy(), np.zeros_like(theta), theta, v_reset,
                           ["IF: v ← v + R·I per step (dt-free)"])
    if kind == "LIF":
        tau = floats(node, "tau", name, origin).reshape(-1)
        v_leak = floats(node, "v_leak", name, origin).reshape(-1)
        beta = _beta(_uniform(tau, "tau", name, origin), dt, name, origin)
        if np.all(np.isinf(tau)) and np.all(np.isinf(r)):
            gain = np.ones_like(theta)  # τ = ∞ with snnTorch's R = τ/dt: gain 1
            notes.append("τ = ∞ and R = ∞ (snnTorch's β = 1): read as IF with gain R·dt/τ = 1")
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                gain = _snap_gain(r * dt / tau)
            if not np.all(np.isfinite(gain)):
                raise NirError(f"{origin}: node {name!r}: R·dt/τ is not finite (R = {r.max():g}, "
                               f"τ = {tau.max():g}); give finite R and τ")
        drive = (dt / tau) * v_leak if beta != 1.0 else np.zeros_like(theta)
        notes.append(f"LIF: β = 1 − dt/τ = {beta:.6g}, input gain R·dt/τ = "
                     f"{float(np.mean(gain)):.6g} (dt = {dt:g} s)")
        return NeuronFloat(kind, beta, gain, drive, theta, v_reset, notes)
    if kind == "CubaLIF":
        tau_syn = _uniform(floats(node, "tau_syn", name, origin), "tau_syn", name, origin)
        alpha = _beta(tau_syn, dt, name, origin, "tau_syn")
        if alpha != 0.0:
            raise NirError(f"{origin}: node {name!r}: CubaLIF with tau_syn = {tau_syn:g} "
                           f"(α = 1 − dt/τ_syn = {alpha:.4g}) needs a synaptic-current register, "
                           "which the chip's lif neuron does not have; re-export it as LIF, or "
                           f"with tau_syn = dt = {dt:g} (α = 0)")
        tau = floats(node, "tau_mem", name, origin).reshape(-1)
        v_leak = floats(node, "v_leak", name, origin).reshape(-1)
        w_in = floats(node, "w_in", name, origin).reshape(-1)
        beta = _beta(_uniform(tau, "tau_mem", name, origin), dt, name, origin, "tau_mem")
        gain = _snap_gain(r * dt / tau * w_in * (dt / tau_syn))
        drive = (dt / tau) * v_leak if beta != 1.0 else np.zeros_like(theta)
        notes.append(f"CubaLIF with α = 0 (τ_syn = dt): an LIF with β = {beta:.6g}, gain "
                     f"{float(np.mean(gain)):.6g}")
        return NeuronFloat(kind, beta, gain, drive, theta, v_reset, notes)
    raise NirError(f"{origin}: node {name!r} has type {kind}; neuron nodes the chip maps are "
                   f"{', '.join(NEURON_TYPES)}")


def lif_settings(nf: NeuronFloat, leak_mode: str, reset: str, theta_int: np.ndarray,
                 membrane_bits: int) -> tuple[Any, list[str], bool]:
    """The chip's lif settings for β, with the approximation stated; returns (settings,
    notes, exact). Only β = 0 and β = 1 are exact: a shift leak floors even when
    1 − 2^-λ equals β."""
    from neurochip.neurons.lif import LifNeuron

    beta = nf.beta
    if beta == 0.0:
        return (LifNeuron(reset=reset, leak="none", leak_amount=0, integration="discontinuous"),
                ["β = 0 → integration = discontinuous (exact)"], True)
    if beta == 1.0 or leak_mode == "none":
        note = ("β = 1 → leak = none (exact)" if beta == 1.0 else
                f"β = {beta:.6g} → leak = none (--leak none; error {1 - beta:.3g} per step)")
        return (LifNeuron(reset=reset, leak="none", leak_amount=0, integration="continuous"),
                [note], beta == 1.0)
    if leak_mode == "subtract":
        level = float(np.mean(np.abs(theta_int))) if theta_int.size else 1.0
        hi = (1 << (membrane_bits - 1)) - 1
        lam = int(min(hi, max(0, round((1 - beta) * level))))
        return (LifNeuron(reset=reset, leak="subtract", leak_amount=lam, integration="continuous"),
                [f"β = {beta:.6g} → subtract leak λ = {lam} = round((1 − β)·mean|θ|): equal to "
                 "the exponential leak at v = θ, larger below it"], False)
    lam_float = -math.log2(1 - beta)
    lam = int(min(membrane_bits - 1, max(1, round(lam_float))))
    chip_beta = 1 - 2.0 ** -lam
    if beta < 0.25:  # closer to "nothing carries over" than to the weakest shift (β = 0.5)
        return (LifNeuron(reset=reset, leak="none", leak_amount=0, integration="discontinuous"),
                [f"β = {beta:.6g} → integration = discontinuous (β = 0; error {beta:.3g})"], False)
    return (LifNeuron(reset=reset, leak="shift", leak_amount=lam, integration="continuous"),
            [f"β = {beta:.6g} → shift leak λ = {lam}: β_chip = 1 − 2^-{lam} = {chip_beta:.6g} "
             f"(error {abs(beta - chip_beta):.3g}; v >> λ floors, so a positive membrane leaks "
             "up to 1 LSB less per step)"], False)


MODEL_NIR: dict[str, NirModel] = {
    "lif": NirModel(lif_export, lif_read_back, lif_foreign, lif_settings),
}
