"""Meetings (例会): kinds and their cadence, attendance, minutes, decisions and follow-ups."""
