"""单位台账: businesses and production units in the grids, with their safety grade."""
