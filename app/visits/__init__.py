"""Visits (走访) and the people's diary (民情日记): records, rules, due lists, coverage."""
