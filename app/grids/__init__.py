"""Grids: the tree, levels, kinds, staff and division-code imports."""
