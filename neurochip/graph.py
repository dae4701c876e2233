"""Topology as data: which FIFOs feed each core (in drain order) and which FIFOs each
core pushes to (in push order), built once from the layers' sources (§1, §4, §7).

Every consumer of the topology (the golden reference, the Numba kernel, the RTL top level,
the validator) reads this table; nothing else assumes "FIFO j feeds core j". A FIFO has
exactly one producer (the host or a core) and one consumer. A core with several sources
has one input FIFO per source, drained in the order of its sources; a core feeding several
consumers (fan-out) pushes each item into each of its output FIFOs, in consumer order.
Layers may read any earlier layer (or ``input``): chains, fan-out and multi-source cores
(``add``) in any DAG listed in topological order; the host feeds exactly one layer, and the
last layer (the output) is the only one nobody reads. A multi-source core drains source 0
first, so a FIFO from a later source must hold one whole step of that source, or a diamond
can deadlock (§7); :meth:`Topology.check_deadlock_free` refuses it naming the minimum depth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip.description.fields import DescriptionError
from neurochip.description.model import INPUT
from neurochip.shapes import Shape, size, stream_shape

HOST = -1  # producer id of the FIFO the host writes


@dataclass(frozen=True)
class Topology:
    """FIFO table of a chip. FIFO f goes from ``producer[f]`` (a core index or HOST) to
    ``consumer[f]`` and has depth ``depth[f]``; core j pops ``in_fifos[j]`` in that order
    and pushes to ``out_fifos[j]`` in that order."""

    names: tuple[str, ...]  # layer (core) names
    producer: tuple[int, ...]
    consumer: tuple[int, ...]
    depth: tuple[int, ...]
    in_fifos: tuple[tuple[int, ...], ...]
    out_fifos: tuple[tuple[int, ...], ...]
    shapes: tuple[Shape, ...]  # output map (H, W, C) of every core
    input_shape: Shape
    output_core: int  # the core whose spikes the readout counts

    @property
    def cores(self) -> int:
        return len(self.names)

    @property
    def fifos(self) -> int:
        return len(self.producer)

    @property
    def host_fifos(self) -> tuple[int, ...]:
        return tuple(f for f, p in enumerate(self.producer) if p == HOST)

    def input_shapes(self, core: int) -> list[tuple[str, Shape]]:
        """(source name, (H, W, C)) of each input FIFO of ``core``, in drain order."""
        out = []
        for f in self.in_fifos[core]:
            p = self.producer[f]
            out.append((INPUT, self.input_shape) if p == HOST else (self.names[p], self.shapes[p]))
        return out

    def check_deadlock_free(self, origin: str = "<description>") -> None:
        """§7: a core drains its sources in order, each up to its EOS token, so while it
        waits for source 0 of step t the FIFO of every later source must be able to hold
        all that source pushes in step t (its neurons + 1 token); otherwise the producer
        they share (every path starts at the input) can stall before source 0 completes."""
        for j, fifos in enumerate(self.in_fifos):
            for pos, f in enumerate(fifos[1:], start=1):
                p = self.producer[f]
                need = (self.input_shape if p == HOST else self.shapes[p])
                need = size(need) + 1
                if self.depth[f] < need:
                    src = INPUT if p == HOST else self.names[p]
                    raise DescriptionError(
                        f"{origin}: layer {self.names[j]!r}: the FIFO from {src!r} (source "
                        f"{pos}) has depth {self.depth[f]}, which can deadlock: it must hold one "
                        f"whole step of {src!r} ({need - 1} spikes + 1 token) while source 0 is "
                        f"drained; set layers[{j}].core.fifo_depth >= {need}")

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat int64 arrays for the Numba kernel (CSR for the per-core FIFO lists)."""
        def csr(lists):
            ptr = np.zeros(len(lists) + 1, dtype=np.int64)
            ptr[1:] = np.cumsum([len(x) for x in lists])
            flat = np.array([f for x in lists for f in x], dtype=np.int64)
            return ptr, flat

        in_ptr, in_fifo = csr(self.in_fifos)
        out_ptr, out_fifo = csr(self.out_fifos)
        return {"fifo_depth": np.array(self.depth, dtype=np.int64),
                "fifo_producer": np.array(self.producer, dtype=np.int64),
                "fifo_consumer": np.array(self.consumer, dtype=np.int64),
                "in_ptr": in_ptr, "in_fifo": in_fifo, "out_ptr": out_ptr, "out_fifo": out_fifo}

    @classmethod
    def from_layers(cls, names: list[str], sources: list[tuple[str, ...]], shapes: list[Shape],
                    depths: list[int], input_shape: Shape, origin: str = "<description>",
                    chain_only: bool = False) -> "Topology":
        """Build the table; refuse unknown, later or duplicate names, a second reader of
        the input, and (with ``chain_only``) anything but a chain, naming field and fix."""
        index: dict[str, int] = {}
        producer, consumer, depth = [], [], []
        in_fifos: list[tuple[int, ...]] = []
        out_lists: list[list[int]] = [[] for _ in names]
        for j, (name, srcs) in enumerate(zip(names, sources)):
            where = f"layers[{j}]"
            if name in index:
                raise DescriptionError(f"{origin}: field '{where}.name' = {name!r} is used "
                                       "twice; layer names must be unique")
            if chain_only:
                expect = INPUT if j == 0 else names[j - 1]
                if tuple(srcs) != (expect,):
                    raise DescriptionError(f"{origin}: field '{where}.source' is "
                                           f"{', '.join(map(repr, srcs))}; in format v1 layers "
                                           f"form a chain, so use {expect!r}")
            mine = []
            if len(set(srcs)) != len(srcs) or not srcs:
                raise DescriptionError(f"{origin}: field '{where}.source' is {list(srcs)}; name "
                                       "each source once (an add reads two different "
                                       "sources, §5.4)")
            for src in srcs:
                if src == INPUT:
                    p = HOST
                elif src in index:
                    p = index[src]
                else:
                    raise DescriptionError(f"{origin}: field '{where}.source' is {src!r}, which "
                                           f"is not {INPUT!r} or an earlier layer; list layers "
                                           "after the layers they read")
                f = len(producer)
                producer.append(p)
                consumer.append(j)
                depth.append(depths[j])
                mine.append(f)
                if p != HOST:
                    out_lists[p].append(f)
            in_fifos.append(tuple(mine))
            index[name] = j
        readers = [names[consumer[f]] for f, p in enumerate(producer) if p == HOST]
        if len(readers) != 1:
            raise DescriptionError(f"{origin}: {len(readers)} layers read {INPUT!r} "
                                   f"({readers}); the host feeds exactly one layer, so let the "
                                   "others read that layer's output")
        sinks = [j for j in range(len(names)) if not out_lists[j]]
        if sinks != [len(names) - 1]:
            bad = next(j for j in sinks if j != len(names) - 1)
            raise DescriptionError(f"{origin}: layer {names[bad]!r} feeds no other layer; only "
                                   "the last layer (the output) may, so remove it or use its "
                                   "spikes")
        return cls(tuple(names), tuple(producer), tuple(consumer), tuple(depth),
                   tuple(in_fifos), tuple(tuple(x) for x in out_lists),
                   tuple(tuple(s) for s in shapes), tuple(input_shape), len(names) - 1)

    @classmethod
    def from_description(cls, desc, origin: str = "<description>") -> "Topology":
        from neurochip.kinds import get_kind

        layers = desc.layers
        return cls.from_layers([lay.name for lay in layers], [lay.sources for lay in layers],
                               [get_kind(lay.kind).output_shape(lay) for lay in layers],
                               [lay.core.fifo_depth for lay in layers],
                               stream_shape(desc.input_shape), origin)
