"""nlpgrade: a sandboxed auto-grader for NLP programming assignments in PyTorch."""

__version__ = "0.1.0"
