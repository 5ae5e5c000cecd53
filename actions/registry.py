"""The action modules the action server loads (see actions/server.py)."""

from actions import booking, conversation, refills  # noqa: F401  (importing registers the actions)
