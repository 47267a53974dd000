"""User administration: the users an actor manages (rank and grid scope), their roles, grids and locks."""
