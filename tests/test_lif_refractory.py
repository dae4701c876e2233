"""The lif_refractory neuron (architecture.md §6.4), a model added through its state
declaration (§6.3): the hand-worked case of the spec on the reference, the Numba simulator
and the Amaranth chip, what the declaration gives the other backends, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from neurochip.counters import CORE
from neurochip.description import CoreDescription, CoreMapping, DescriptionError, Encoder, Layer
from neurochip.description import validate
from neurochip.golden.reference import run_batch
from neurochip.neurons.lif_refractory import MODEL, LifRefractoryNeuron
from neurochip.observe import compare
from neurochip.sim import simulate
from neurochip.sim.simulator import encode_images

PIXELS = np.array([[255]], dtype=np.uint8)  # rate_deterministic: input 0 in steps 1 … 7


def _chip(refractory: int = 2, bits: int = 6) -> CoreDescription:
    lay = Layer(name="out", inputs=1, neurons=2, weight_bits=8, membrane_bits=bits,
                overflow="saturate", neuron=LifRefractoryNeuron(refractory=refractory),
                core=CoreMapping(index=0, lanes=2, fifo_depth=4), weight=np.array([[3, 5]]),
                threshold=np.array([4, 4]), bias=np.array([0, 1]), source="input")
    desc = CoreDescription(name="refractory-hand", input_shape=(1,),
                           encoder=Encoder("rate_deterministic", 0), time_steps=8,
                           clock_hz=1e8, count_bits=4, layers=[lay])
    validate(desc)
    return desc


def test_hand_worked_case_on_every_software_backend_and_amaranth():
    """§6.4 example: neuron 0 fires in steps 2 and 6, neuron 1 in 1, 4 and 7; each sits
    out R = 2 steps after a spike with its membrane held at 0. Final m = [0, 0], counters
    [1, 2]; 31 cycles; an update reads and writes the membrane and the counter word."""
    from neurochip.verify.amaranth_run import run_amaranth

    desc = _chip()
    assert encode_images(desc, PIXELS)[0, :, 0].tolist() == [0, 1, 1, 1, 1, 1, 1, 1]
    sim = simulate(desc, PIXELS, record_spikes=True)
    assert sim.spikes[0].T.tolist() == [[0, 0, 1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0, 0, 1]]
    assert sim.membranes[0].tolist() == [0, 0]
    assert sim.states["refractory_left"][0].tolist() == [1, 2]
    assert sim.counts[0].tolist() == [2, 3] and sim.predictions[0] == 1
    assert sim.cycles[0] == 31
    c = sim.core_counters[0, 0]
    assert c[CORE["membrane_word_reads"]] == c[CORE["membrane_word_writes"]] == 7 + 2 * 8
    assert (c[CORE["param_word_reads"]], c[CORE["neuron_updates"]]) == (8, 16)
    assert c[CORE["bitmap_reads"]] == 0  # emits every step: no sent bitmap
    for label, other in (("reference", run_batch(desc, encode_images(desc, PIXELS))),
                         ("amaranth", run_amaranth(desc, PIXELS))):
        result = compare(sim, other, labels=("simulator", label))
        assert result.identical, "\n".join(map(str, result.mismatches[:20]))
        assert "refractory_left" in result.compared


def test_the_declaration_sizes_the_shell_readback_and_energy():
    """The counter is one register file of K words of L·r bits (r = bit length of R), read
    back in space 5, costed as membrane words and outside the static memory budget."""
    from neurochip.energy.model import MODEL_ENERGY, static_memory_kbit
    from neurochip.hw.config import SPACE_STATE, ChipConfig
    from neurochip.hw.shell import shell_memories
    from neurochip.verify.readback import ReadbackPlan

    desc = _chip(refractory=5)  # r = 3 bits
    cfg = ChipConfig.from_description(desc)
    mem = shell_memories(cfg.cores[0])["refractory_left"]
    assert (mem.kind, mem.depth, mem.width) == ("regfile", 1, 2 * 3)
    assert "sent" not in shell_memories(cfg.cores[0])
    spaces = {a >> 29 for a in ReadbackPlan.for_chip(cfg).addresses}
    assert SPACE_STATE in spaces and SPACE_STATE + 1 not in spaces
    assert "bitmap_reads" not in MODEL_ENERGY["lif_refractory"].counters
    assert static_memory_kbit(desc) == {"per_kbit_sram": 2 * 1 * 8 / 1e3}  # weights only


@pytest.mark.parametrize("refractory,bits", [(0, 6), (32, 6), (8, 4)])
def test_refractory_outside_its_range_is_refused(refractory, bits):
    with pytest.raises(DescriptionError, match="refractory"):
        _chip(refractory=refractory, bits=bits)


def test_counter_width_rule():
    assert [MODEL.state_words[0].width(8, LifRefractoryNeuron(refractory=r))
            for r in (1, 2, 3, 4, 127)] == [1, 2, 2, 3, 7]
