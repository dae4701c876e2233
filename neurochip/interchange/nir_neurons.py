"""One NIR export entry and one import entry per neuron model (``MODEL_NIR``, registered
in ``neurochip/backends.py``).

NIR is continuous-time; the chip steps. With Euler steps of ``dt`` (docs/nir.md):

* ``LIF``  τ dv/dt = (v_leak − v) + R·I  →  v ← β·v + (1 − β)·v_leak + g·I,
  β = 1 − dt/τ, g = R·dt/τ (snnTorch writes τ = dt/(1 − β), R = τ/dt, so g = 1);
* ``IF``   dv/dt = R·I  →  v ← v + R·I per step (dt-free, as snnTorch, Norse and Sinabs
  run it);
* ``CubaLIF`` adds a synaptic current I ← α·I + (dt/τ_syn)·w_in·x, α = 1 − dt/τ_syn; the
  chip's ``lif`` has no current register, so only α = 0 (τ_syn = dt) is expressible.
  (``ttfs`` with ``psp = ramp`` is exported as the CubaLIF with α = β = 1 in snnTorch's
  convention τ_syn = τ_mem = R = w_in = ∞; the float reference runs it, the foreign
  importer refuses it.)

``ttfs`` (§6.1), ``bistable`` (§6.2) and ``lif_refractory`` (§6.4) are exported as the
closest primitive (IF, or that CubaLIF) with the chip fields in metadata; a foreign graph
only ever becomes ``lif``: no NIR primitive says "fires once per image", "fires only in
alternate phases" or "ignores its input for R steps after a spike".

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
    alpha: float = 0.0  # CubaLIF current decay; 0: no current register (the chip's lif)
    syn_gain: np.ndarray | float = 1.0  # (dt/τ_syn)·w_in, multiplies the input into I


@dataclass(frozen=True)
class NirModel:
    """How one neuron model goes to NIR (``export``), comes back exactly (``read_back``),
    which reset the float reference applies to its node (``float_reset``), and what
    ``--foreign`` makes of a node this model exported (``as_foreign``: the notes of the
    lif approximation, or a NirError naming the node and why). ``from_foreign`` and
    ``settings`` map foreign nodes onto the model; only ``lif`` has them (a foreign IF or
    CubaLIF carries no single-spike or phase semantics)."""

    export: Callable[..., tuple[Any, list[str]]]
    read_back: Callable[..., np.ndarray]
    float_reset: Callable[[Any], str]
    as_foreign: Callable[..., list[str]]
    from_foreign: Callable[..., NeuronFloat] | None = None
    settings: Callable[..., tuple[Any, list[str], bool]] | None = None


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


def lif_read_back(node, name: str, origin: str, offset: float = 0.0) -> np.ndarray:
    """Per-channel thresholds of a neurochip-exported neuron node (exact integers);
    ``offset`` is added to the stored v_threshold first (bistable stores θ − ½)."""
    from neurochip.interchange.nir_kinds import _exact_ints

    theta = floats(node, "v_threshold", name, origin) + offset
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


def lif_foreign(node, name: str, dt: float, origin: str, current_ok: bool = False) -> NeuronFloat:
    """IF, LIF or CubaLIF after Euler discretisation with ``dt``. A CubaLIF with α ≠ 0 is
    refused unless ``current_ok`` (the float reference, which keeps a current register)."""
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
        if alpha != 0.0 and current_ok:
            return _cuba_float(node, name, dt, origin, tau_syn, alpha, theta, v_reset, r)
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


def _infinite_pair(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(np.isinf(a)) and np.all(np.isinf(b)))


def _cuba_float(node, name: str, dt: float, origin: str, tau_syn: float, alpha: float,
                theta: np.ndarray, v_reset: np.ndarray, r: np.ndarray) -> NeuronFloat:
    """CubaLIF with a current register: I ← α·I + (dt/τ_syn)·w_in·x, v ← β·v + drive +
    (R·dt/τ_mem)·I; τ = ∞ with R = ∞ (w_in = ∞) is snnTorch's α = 1 (β = 1): gain 1."""
    tau = floats(node, "tau_mem", name, origin).reshape(-1)
    v_leak = floats(node, "v_leak", name, origin).reshape(-1)
    w_in = floats(node, "w_in", name, origin).reshape(-1)
    beta = _beta(_uniform(tau, "tau_mem", name, origin), dt, name, origin, "tau_mem")
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.ones_like(theta) if _infinite_pair(tau, r) else _snap_gain(r * dt / tau)
        syn = (np.ones_like(w_in) if math.isinf(tau_syn) and np.all(np.isinf(w_in))
               else _snap_gain(w_in * dt / tau_syn))
    if not (np.all(np.isfinite(gain)) and np.all(np.isfinite(syn))):
        raise NirError(f"{origin}: node {name!r}: CubaLIF gains R·dt/τ_mem or w_in·dt/τ_syn "
                       "are not finite; give finite R, w_in and τ (or all of them ∞ for α = β = 1)")
    drive = (dt / tau) * v_leak if beta != 1.0 else np.zeros_like(theta)
    return NeuronFloat("CubaLIF", beta, gain, drive, theta, v_reset,
                       [f"CubaLIF: α = {alpha:.6g}, β = {beta:.6g} (current register)"],
                       alpha=alpha, syn_gain=syn)


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


def lif_as_foreign(node, meta: dict, name: str, origin: str) -> list[str]:
    return []


# ---------------------------------------------------------------- ttfs (§6.1)
TTFS_LOST = ("the single spike per image (the fired bit): a float reader's neuron fires "
             "again after its reset", "the first-spike decision of an output layer (first "
             "class to fire, else the largest V): readers count spikes")


def ttfs_export(nir, lay, dt: float, nir_shape: tuple[int, ...]) -> tuple[Any, list[str]]:
    """psp = step: an IF (V ← V + input, no leak). psp = ramp: snnTorch's CubaLIF with
    α = β = 1 (I ← I + input, V ← V + I). Both reset V to 0 on a spike, which changes no
    spike of the chip's neuron: it never fires again."""
    theta = _tile(lay.threshold, nir_shape)
    zeros, ones = np.zeros_like(theta), np.ones_like(theta)
    lost = list(TTFS_LOST)
    if lay.neuron.psp == "step":
        return nir.IF(r=ones, v_threshold=theta, v_reset=zeros), lost
    inf = np.full_like(theta, np.inf)
    node = nir.CubaLIF(tau_syn=inf, tau_mem=inf, r=inf.copy(), w_in=inf.copy(), v_leak=zeros,
                       v_threshold=theta, v_reset=zeros.copy())
    lost.append("the ramp PSP's exact arithmetic: written as a CubaLIF current that never "
                "decays (α = β = 1 as snnTorch writes it: τ_syn = τ_mem = R = w_in = ∞); a "
                "reader that forms w_in·dt/τ_syn gets ∞·0")
    return node, lost


def ttfs_as_foreign(node, meta: dict, name: str, origin: str) -> list[str]:
    psp = (meta.get("layer", {}).get("neuron") or {}).get("psp")
    if psp == "ramp":
        raise NirError(f"{origin}: node {name!r} is a neurochip ttfs layer with psp = ramp, "
                       "written as a CubaLIF whose current never decays (τ_syn = ∞); the "
                       "chip's lif has no current register, so --foreign cannot map it; "
                       "import without --foreign to get the ttfs layer back exactly")
    return [f"node {name!r} was exported from a neurochip ttfs layer (psp = step); --foreign "
            "reads its IF as lif: the single spike per image and the first-spike decision "
            "are lost, so the layer may fire again"]


# ---------------------------------------------------------------- bistable (§6.2)
def bistable_export(nir, lay, dt: float, nir_shape: tuple[int, ...]) -> tuple[Any, list[str]]:
    """An IF with v_threshold = θ − ½: for integer membranes v > θ − ½ ⇔ v ≥ θ, the
    bistable's firing test (and a reader testing v ≥ θ − ½ agrees too)."""
    p = lay.neuron
    theta = _tile(lay.threshold, nir_shape) - 0.5
    ones = np.ones_like(theta)
    lost = [f"the phase gating (integrate phase_steps = {p.phase_steps} steps without firing, "
            f"then fire for {p.phase_steps}, offset phase = {p.phase}): an IF may fire in "
            "every step",
            "the bias only in integrate steps (a synapse bias is added every step)",
            "reset by subtraction of θ (NIR writes v_reset = 0; frameworks differ)",
            "the firing test v ≥ θ, written as v > θ − ½ (exact for integer membranes)"]
    return nir.IF(r=ones, v_threshold=theta, v_reset=np.zeros_like(theta)), lost


def bistable_read_back(node, name: str, origin: str) -> np.ndarray:
    return lif_read_back(node, name, origin, offset=0.5)


def bistable_as_foreign(node, meta: dict, name: str, origin: str) -> list[str]:
    p = meta.get("layer", {}).get("neuron") or {}
    return [f"node {name!r} was exported from a neurochip bistable layer (phase_steps = "
            f"{p.get('phase_steps')}, phase = {p.get('phase')}); --foreign reads its IF as "
            "lif: the phase gating and the integrate-only bias are lost, and the threshold "
            "θ − ½ quantizes to θ − 1 (v > θ − 1 ⇔ v ≥ θ; a subtract reset then removes θ − 1)"]


# ---------------------------------------------------------------- lif_refractory (§6.4)
def refractory_export(nir, lay, dt: float, nir_shape: tuple[int, ...]) -> tuple[Any, list[str]]:
    """An IF with v_reset = 0 (the chip's reset to 0 and strict threshold); NIR's IF has no
    refractory period, so the period lives in the metadata only."""
    theta = _tile(lay.threshold, nir_shape)
    ones = np.ones_like(theta)
    lost = [f"the absolute refractory period (R = {lay.neuron.refractory} steps after a spike "
            "in which the membrane is held at 0 and input is discarded): an IF integrates in "
            "every step"]
    return nir.IF(r=ones, v_threshold=theta, v_reset=np.zeros_like(theta)), lost


def refractory_as_foreign(node, meta: dict, name: str, origin: str) -> list[str]:
    p = meta.get("layer", {}).get("neuron") or {}
    return [f"node {name!r} was exported from a neurochip lif_refractory layer (refractory = "
            f"{p.get('refractory')}); --foreign reads its IF as lif: the refractory period is "
            "lost, so the neuron may fire again in the steps right after a spike"]


MODEL_NIR: dict[str, NirModel] = {
    "lif": NirModel(lif_export, lif_read_back, lambda p: p.reset, lif_as_foreign,
                    lif_foreign, lif_settings),
    "ttfs": NirModel(ttfs_export, lif_read_back, lambda p: "zero", ttfs_as_foreign),
    "bistable": NirModel(bistable_export, bistable_read_back, lambda p: "subtract",
                         bistable_as_foreign),
    "lif_refractory": NirModel(refractory_export, lif_read_back, lambda p: "zero",
                               refractory_as_foreign),
}
