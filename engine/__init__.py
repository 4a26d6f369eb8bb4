"""changegate: one policy for every point an LLM/ML change passes (push, merge, deploy)."""

__version__ = "0.1.0"
