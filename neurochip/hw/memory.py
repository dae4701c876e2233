"""Memory wrappers named by their size, so a flow can swap them for SRAM macros.

Each wrapper is an Amaranth component with two faces:
* ``blackbox=True`` (Verilog generation): an ``Instance`` of a plain Verilog module named
  by its size (``sram_784x16x64``, ``rom_16x1408``, ``regfile_16x704``) whose source
  :func:`verilog_module` writes; read-only contents come from a ``$readmemh`` file
  written next to the Verilog (the ``INIT_FILE`` parameter).
* ``blackbox=False`` (Amaranth simulation in the unit tests): an
  ``amaranth.lib.memory.Memory`` with the same behaviour.

Both read synchronously (data of the address presented in cycle c appears in cycle c+1,
like an SRAM) and read the old word when a word is read and written in one cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import ClockSignal, Instance, Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from neurochip.hw.config import addr_bits


@dataclass(frozen=True)
class MemoryShape:
    """What a wrapper module is named after: kind, depth, width (and an optional split)."""

    kind: str  # "sram" (weights), "rom" (param words), "regfile" (membranes, trace)
    depth: int
    width: int
    rows: int = 0  # weights: N_in rows × K words, named rows x words x width

    @property
    def module_name(self) -> str:
        if self.rows:
            return f"{self.kind}_{self.rows}x{self.depth // self.rows}x{self.width}"
        return f"{self.kind}_{self.depth}x{self.width}"

    @property
    def writable(self) -> bool:
        return self.kind == "regfile"


class SyncRom(wiring.Component):
    """Read-only memory with contents fixed at generation time (weights, param words)."""

    def __init__(self, shape: MemoryShape, init: list[int], init_file: str, blackbox: bool):
        self.shape, self.init, self.init_file, self.blackbox = shape, init, init_file, blackbox
        super().__init__({"addr": In(addr_bits(shape.depth)), "data": Out(shape.width)})

    def elaborate(self, platform) -> Module:
        m = Module()
        if self.blackbox:
            m.submodules.macro = Instance(self.shape.module_name, p_INIT_FILE=self.init_file,
                                          i_clk=ClockSignal(), i_addr=self.addr,
                                          o_data=self.data)
            return m
        m.submodules.mem = mem = memory.Memory(shape=self.shape.width, depth=self.shape.depth,
                                               init=self.init)
        rp = mem.read_port()
        m.d.comb += [rp.addr.eq(self.addr), self.data.eq(rp.data)]
        return m


class RegFile(wiring.Component):
    """One read port, one write port, no initial contents (membranes, spike trace)."""

    def __init__(self, shape: MemoryShape, blackbox: bool):
        self.shape, self.blackbox = shape, blackbox
        aw = addr_bits(shape.depth)
        super().__init__({"raddr": In(aw), "rdata": Out(shape.width), "waddr": In(aw),
                          "wdata": In(shape.width), "we": In(1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        if self.blackbox:
            m.submodules.macro = Instance(self.shape.module_name, i_clk=ClockSignal(),
                                          i_raddr=self.raddr, o_rdata=self.rdata,
                                          i_waddr=self.waddr, i_wdata=self.wdata, i_we=self.we)
            return m
        m.submodules.mem = mem = memory.Memory(shape=self.shape.width, depth=self.shape.depth,
                                               init=[])
        wp = mem.write_port()
        rp = mem.read_port()
        m.d.comb += [rp.addr.eq(self.raddr), self.rdata.eq(rp.data), wp.addr.eq(self.waddr),
                     wp.data.eq(self.wdata), wp.en.eq(self.we)]
        return m


def verilog_module(shape: MemoryShape) -> str:
    """Behavioural Verilog of a wrapper; replace the body with a macro instance for tape-out."""
    aw, w, d = addr_bits(shape.depth), shape.width, shape.depth
    name = shape.module_name
    if not shape.writable:
        return f"""module {name} #(
    parameter INIT_FILE = "none.hex"
) (
    input  wire           clk,
    input  wire [{aw - 1}:0]    addr,
    output reg  [{w - 1}:0] data
);
    // {d} words x {w} bits, synchronous read, contents from INIT_FILE ($readmemh)
    reg [{w - 1}:0] mem [0:{d - 1}];
    initial $readmemh(INIT_FILE, mem);
    always @(posedge clk) data <= mem[addr];
endmodule
"""
    return f"""module {name} (
    input  wire           clk,
    input  wire [{aw - 1}:0]    raddr,
    output reg  [{w - 1}:0] rdata,
    input  wire [{aw - 1}:0]    waddr,
    input  wire [{w - 1}:0] wdata,
    input  wire           we
);
    // {d} words x {w} bits, 1 read + 1 write port, synchronous read (old data on collision)
    reg [{w - 1}:0] mem [0:{d - 1}];
    always @(posedge clk) begin
        if (we) mem[waddr] <= wdata;
        rdata <= mem[raddr];
    end
endmodule
"""

