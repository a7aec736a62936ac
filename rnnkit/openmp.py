"""How torch's OpenMP threads wait for work, chosen before torch loads (importing rnnkit does it).

Threads that spin while they wait keep every core busy between parallel regions. On free cores
that is the fast choice; but when another process is using a core, a spinning thread takes it
from the thread doing the work. Measured with `rnnkit demo` on 2 cores: free cores, spinning
31,000-36,000 characters/s and sleeping 21,000-25,000; one core busy elsewhere, spinning 1,200
and sleeping 19,600. So threads sleep when the machine is already busy (a one-minute load
average of 0.5 or more) and spin otherwise; a policy the user set is kept.
"""

from __future__ import annotations

import os

#: the one-minute load average from which the cores count as busy
BUSY_LOAD = 0.5


def choose_wait_policy() -> str | None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` when the machine is busy and the user set no policy;
    return the policy set, or None when it was left alone (no effect once torch is loaded)."""
    if "OMP_WAIT_POLICY" in os.environ:
        return None
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this system
        return None
    if load < BUSY_LOAD:
        return None
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "PASSIVE"
