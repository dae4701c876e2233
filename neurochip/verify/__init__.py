"""Co-verification of the generated RTL against the Numba simulator (bit- and cycle-exact)."""
