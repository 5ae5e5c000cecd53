"""`python -m privacy eval`: measure the redactor on generated patient chat and a public set."""
