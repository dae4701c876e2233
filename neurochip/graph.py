"""Topology as data: which FIFOs feed each core (in drain order) and which FIFOs each
core pushes to (in push order), built once from the layers' sources (§1, §4, §7).

Every consumer of the topology (the golden reference, the Numba kernel, the RTL top level,
the validator) reads this table; nothing else assumes "FIFO j feeds core j". A FIFO has
exactly one producer (the host or a core) and one consumer. A core with several sources
has one input FIFO per source, drained in the order of its sources; a core feeding several
consumers (fan-out) pushes each item into each of its output FIFOs, in consumer order.
Format v1 accepts only chains (the validator says so); the table already expresses the
rest."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip.description.fields import DescriptionError
from neurochip.description.model import INPUT

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
    sizes: tuple[int, ...]  # output size of every core
    input_size: int
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

    def input_sizes(self, core: int) -> list[tuple[str, int]]:
        """(source name, size) of each input FIFO of ``core``, in drain order."""
        out = []
        for f in self.in_fifos[core]:
            p = self.producer[f]
            out.append((INPUT, self.input_size) if p == HOST else (self.names[p], self.sizes[p]))
        return out

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
    def from_layers(cls, names: list[str], sources: list[tuple[str, ...]], sizes: list[int],
                    depths: list[int], input_size: int, origin: str = "<description>",
                    chain_only: bool = True) -> "Topology":
        """Build the table; refuse unknown, later or duplicate names (and, in v1, anything
        but a chain), naming the field and the fix."""
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
        sinks = [j for j in range(len(names)) if not out_lists[j]]
        if sinks != [len(names) - 1]:
            bad = next(j for j in sinks if j != len(names) - 1)
            raise DescriptionError(f"{origin}: layer {names[bad]!r} feeds no other layer; only "
                                   "the last layer (the output) may, so remove it or use its "
                                   "spikes")
        return cls(tuple(names), tuple(producer), tuple(consumer), tuple(depth),
                   tuple(in_fifos), tuple(tuple(x) for x in out_lists), tuple(sizes),
                   input_size, len(names) - 1)

    @classmethod
    def from_description(cls, desc, origin: str = "<description>") -> "Topology":
        from neurochip.kinds import get_kind

        layers = desc.layers
        return cls.from_layers([lay.name for lay in layers], [lay.sources for lay in layers],
                               [get_kind(lay.kind).output_size(lay) for lay in layers],
                               [lay.core.fifo_depth for lay in layers], desc.input_size, origin)
