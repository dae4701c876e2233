"""Names of the event counters of §10, shared by every model so columns line up."""

CORE_COUNTERS: tuple[str, ...] = (
    "pops",
    "pushes",
    "weight_word_reads",
    "synaptic_ops",
    "membrane_word_reads",
    "membrane_word_writes",
    "param_word_reads",
    "neuron_updates",
    "spikes",
    "busy_cycles",
    "stall_cycles",
    "idle_cycles",
)

CHIP_COUNTERS: tuple[str, ...] = ("cycles", "host_pushes", "host_stall_cycles")

CORE = {name: i for i, name in enumerate(CORE_COUNTERS)}
CHIP = {name: i for i, name in enumerate(CHIP_COUNTERS)}
