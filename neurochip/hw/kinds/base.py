"""What the core shell expects of a layer kind's sequencer (§5, §8): the kind decides
which weight words and membrane words an address event touches, in which order, with
which lanes; the shell does the popping, adding, writing back and counting."""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurochip.hw.config import EOS_BIT, CoreConfig, addr_bits
from neurochip.hw.memory import MemoryShape


def sequencer_signature(cfg: CoreConfig) -> wiring.Signature:
    """Ports of every sequencer (the shell drives ``address``, ``start`` and ``step``)."""
    L = cfg.lanes
    return wiring.Signature({
        "address": In(EOS_BIT), "start": In(1), "step": In(1),
        "weights": Out(cfg.weight_width), "word": Out(addr_bits(cfg.words)),
        "next_word": Out(addr_bits(cfg.words)), "enable": Out(L),
        "ops": Out(range(max(2, L + 1))), "last": Out(1),
    })


class Sequencer(wiring.Component):
    """A layer kind's accumulation sequencer; it owns the core's weight memory.

    The shell pops an address event in cycle c and then spends :meth:`cycles` accumulation
    cycles c+1, c+2, … on it, one membrane word each (§8). Ports:

    * ``address`` (in): the address bits of the input stream's head item.
    * ``start`` (in): an address event is popped this cycle: latch what the event needs and
      present the reads of its first accumulation cycle.
    * ``step`` (in): this is an accumulation cycle: present the reads of the next one.
    * ``weights`` (out): the weight word of this accumulation cycle, one weight per lane
      (its memory is synchronous, so its address went out one cycle earlier).
    * ``word`` (out): the membrane word this accumulation cycle adds into and writes.
    * ``next_word`` (out): with ``start`` or ``step``, the membrane word of the next
      accumulation cycle (the shell presents it as the membrane read address).
    * ``enable``, ``ops`` (out): the lanes this cycle adds into and how many they are
      (the synaptic operations of the cycle).
    * ``last`` (out): this is the event's last accumulation cycle.

    Memories are built from ``weights`` (ints, Amaranth simulation) or, with ``blackbox``,
    from the ``$readmemh`` image ``cfg.weight_file``.
    """

    def __init__(self, cfg: CoreConfig, weights: list[int], blackbox: bool):
        self.cfg, self.weight_init, self.blackbox = cfg, weights, blackbox
        super().__init__(sequencer_signature(cfg))

    @classmethod
    def cycles(cls, cfg: CoreConfig) -> int:
        """Accumulation cycles per address event."""
        raise NotImplementedError

    @classmethod
    def weight_shape(cls, cfg: CoreConfig) -> MemoryShape:
        """The weight memory (named by its size; ``neurochip rtl`` writes its wrapper)."""
        raise NotImplementedError
