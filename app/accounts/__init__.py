"""Accounts: users, roles, login and sessions."""
