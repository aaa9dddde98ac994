"""A numpy dtype's pickled state, applied without numpy's ``dtype.__setstate__``.

The scan (mlayer.model.replay) must know the item size joblib will read an array with, so it mirrors
each pickled dtype with a real one. numpy's ``__setstate__`` trusts its input: a mutated state
crashed the scan itself (signal 11, found by the evil-pickle fuzz). So the state is honoured
only when numpy's own constructor builds a dtype whose state is exactly the one pickled; any
other state leaves no usable dtype, and an array that uses it is refused.
"""

from __future__ import annotations


def dtype_from_state(real, state):
    """The dtype ``real.__setstate__(state)`` would make, built with numpy's own constructor:
    numpy's __setstate__ trusts its input (a mutated state crashed the scan, signal 11), so a
    state is honoured only when numpy writes exactly that state for the dtype it describes."""
    import numpy as np

    if not (isinstance(state, tuple) and len(state) in (8, 9) and isinstance(state[1], str)):
        return None
    endian, sub, names, fields, elsize = state[1:6]
    if sub is not None:
        candidates = [np.dtype(tuple(sub))]
    elif names is not None:
        spec = {
            "names": list(names),
            "formats": [fields[n][0] for n in names],
            "offsets": [fields[n][1] for n in names],
            "itemsize": elsize,
        }
        if any(len(fields[n]) > 2 for n in names):
            spec["titles"] = [fields[n][2] if len(fields[n]) > 2 else None for n in names]
        candidates = [np.dtype(spec)]
        if state[7] & 0x80:  # NPY_ALIGNED_STRUCT
            candidates = [np.dtype(spec, align=True)]
    elif len(state) == 9 and real.kind in "mM":  # datetime64/timedelta64: (metadata, unit)
        unit, count = state[8][1][:2]
        candidates = [np.dtype(f"{real.char}8[{count}{unit.decode('ascii')}]")]
    elif real.kind in "biufcO" and sub is None and names is None:
        # numpy keeps a builtin type's own item size and alignment, whatever the state says
        return real.newbyteorder(endian) if endian in "<>" else real
    else:
        candidates = [real]
    for candidate in candidates:
        if endian in "<>":
            candidate = candidate.newbyteorder(endian)
        if candidate.__reduce__()[2] == state:
            return candidate
    return None
