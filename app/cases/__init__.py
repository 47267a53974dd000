"""Cases: one intake, the workflow, time limits, notifications, public intake and printed forms."""
