"""Statistics of a grid for a period (cases, field work, the build-out check) and the dashboard."""
