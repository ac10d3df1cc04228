"""teamgate: who is in a workspace, with which role, and who is invited."""

__version__ = "0.1.0"
