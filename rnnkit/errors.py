"""The one exception type for problems with what the user gave us.

A ``UserError`` carries one sentence that names the thing (file, column, option, run directory)
and the fix. Only ``rnnkit.cli`` turns it into ``error: ...`` on stderr with exit code 2; everywhere
else it propagates like any exception. Misuse of the Python API raises ValueError or TypeError.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, explained in one sentence."""
