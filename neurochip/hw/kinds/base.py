"""What the core shell expects of a layer kind's sequencer (its address generator, §5, §8):
the kind decides which weight words and membrane words an address event touches, in which
order, with which lanes; the shell does the popping, adding, writing back and counting."""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurochip.hw.config import EOS_BIT, CoreConfig, addr_bits
from neurochip.hw.memory import MemoryShape


def sequencer_signature(cfg: CoreConfig) -> wiring.Signature:
    """Ports of every sequencer (the shell drives ``address``, ``source``, ``start`` and
    ``step``)."""
    L = cfg.lanes
    return wiring.Signature({
        "address": In(EOS_BIT), "source": In(range(max(2, cfg.sources))),
        "start": In(1), "step": In(1),
        "empty": Out(1),
        "weights": Out(cfg.weight_width), "word": Out(addr_bits(cfg.words)),
        "next_word": Out(addr_bits(cfg.words)), "enable": Out(L),
        "ops": Out(range(max(2, L + 1))), "visit": Out(1), "last": Out(1),
    })


class Sequencer(wiring.Component):
    """A layer kind's accumulation sequencer; it owns the core's weight memory (if any).

    The shell pops an address event in cycle c and then spends the event's A accumulation
    cycles c+1, c+2, … on it, one membrane word each (§8; A may be 0: then ``empty``). Ports:

    * ``address`` (in): the address bits of the input stream's head item.
    * ``source`` (in): the input FIFO the head item comes from (its position in the drain
      order, §4; ``add`` reads its gain row with it).
    * ``start`` (in): an address event is popped this cycle: latch what the event needs and
      present the reads of its first accumulation cycle.
    * ``empty`` (out, with ``start``): the popped event has no accumulation cycle (a conv2d
      event that touches no output position): the event costs only its pop cycle.
    * ``step`` (in): this is an accumulation cycle: present the reads of the next one.
    * ``weights`` (out): the weight word of this accumulation cycle, one weight per lane
      (its memory is synchronous, so its address went out one cycle earlier).
    * ``word`` (out): the membrane word this accumulation cycle adds into and writes.
    * ``next_word`` (out): with ``start`` or ``step``, the membrane word of the next
      accumulation cycle (the shell presents it as the membrane read address).
    * ``enable``, ``ops`` (out): the lanes this cycle adds into and how many they are
      (the synaptic operations of the cycle); the other lanes keep their membrane.
    * ``visit`` (out): this cycle is the first of a touched output position (one
      ``address_steps`` count, §10; conv2d and pool only).
    * ``last`` (out): this is the event's last accumulation cycle.

    ``reads_weights``: every accumulation cycle reads one weight word (§10
    ``weight_word_reads``); False for a kind without weight memory (pool). The kind also
    says whether the shell keeps a sent bitmap (:meth:`sent_bitmap`).

    Memories are built from ``weights`` (ints, Amaranth simulation) or, with ``blackbox``,
    from the ``$readmemh`` image ``cfg.weight_file``.
    """

    reads_weights: bool = True

    def __init__(self, cfg: CoreConfig, weights: list[int], blackbox: bool):
        self.cfg, self.weight_init, self.blackbox = cfg, weights, blackbox
        super().__init__(sequencer_signature(cfg))

    @classmethod
    def cycles(cls, cfg: CoreConfig) -> int:
        """The most accumulation cycles one address event takes (fc: exactly K)."""
        raise NotImplementedError

    @classmethod
    def sent_bitmap(cls, cfg: CoreConfig) -> bool:
        """Whether the core keeps the §5.3 sent bitmap (a ``pool`` with ``emit = once``):
        then only the neurons that fire for the first time since ``clear`` go out."""
        return False

    @classmethod
    def weight_shape(cls, cfg: CoreConfig) -> MemoryShape | None:
        """The weight memory (named by its size; ``neurochip rtl`` writes its wrapper), or
        None for a kind without one."""
        raise NotImplementedError
