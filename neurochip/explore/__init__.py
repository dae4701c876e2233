"""Design-space exploration at scale on Dask: grids of description overrides (`sweep`) and
campaigns of random networks co-simulated on RTL (`campaign`), each result kept in a
resumable SQLite store."""
