"""Fixed-point helpers of §2 as Amaranth expressions (overflow, weight decode, reductions)."""

from __future__ import annotations

from amaranth import Const, Mux, Value, signed


def overflow(value: Value, bits: int, saturate: bool) -> Value:
    """Bring a wider signed result back into ``bits`` bits: clamp or keep the low bits (§2)."""
    if saturate:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        value = Mux(value > hi, Const(hi, signed(bits)),
                    Mux(value < lo, Const(lo, signed(bits)), value))
    return value[:bits].as_signed()


def decode_weight(bits_: Value, weight_bits: int) -> Value:
    """A stored weight as a signed value: 1-bit weights are ±1 (bit 1 = +1), else two's complement."""
    if weight_bits == 1:
        return Mux(bits_[0], Const(1, signed(2)), Const(-1, signed(2)))
    return bits_.as_signed()


def popcount(bits_: Value) -> Value:
    """Number of set bits, as a balanced adder tree (the spike counter increment)."""
    terms: list[Value] = [bits_[i] for i in range(len(bits_))]
    if not terms:
        return Const(0, 1)
    while len(terms) > 1:
        nxt = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
    return terms[0]
