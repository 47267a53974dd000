"""Publicity (公示): notice boards, responsibility cards, contact and supervision cards."""
