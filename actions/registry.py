"""The action modules the action server loads (see actions/server.py)."""

from actions import booking, conversation, handoff, refills, staff  # noqa: F401  (importing registers the actions)
