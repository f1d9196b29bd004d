"""Worker runtime that runs INSIDE the sandbox (imported there as ``nlpgrade_worker``).

Only the standard library, torch and safetensors may be imported here: the sandbox sees
this folder and nothing else of the grader. Probe modules written by assignment authors use::

    from nlpgrade_worker import probe, ProbeContext
"""

from .context import ProbeContext
from .registry import probe

__all__ = ["ProbeContext", "probe"]
