"""Small argument checks shared by cnnlib.conv, cnnlib.pool and cnnlib.shapes.

Every check raises ``ValueError`` with a message that says what was wrong
and what to change, so the numerical code can stay short.
"""

import operator

import numpy as np


def integer(value, name):
    """Return ``value`` as a Python int, or raise ValueError if it is not one.

    Booleans and floats such as ``2.0`` are refused: sizes are counts.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer, got the boolean {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(
            f"{name} must be an integer, got {value!r} ({type(value).__name__})"
        ) from None


def positive_int(value, name):
    """An integer >= 1 (kernel sizes, strides, dilations, channel counts)."""
    value = integer(value, name)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value}")
    return value


def nonneg_int(value, name):
    """An integer >= 0 (paddings)."""
    value = integer(value, name)
    if value < 0:
        raise ValueError(
            f"{name} must be a non-negative integer (>= 0), got {value}: "
            "padding adds that many zeros on each side, so it cannot be negative"
        )
    return value


def is_pair(value):
    """True for a tuple or list (the 'one value per dimension' form)."""
    return isinstance(value, (tuple, list))


def pair(value, name, check=integer):
    """Turn an int or a pair ``(height, width)`` into a checked 2-tuple.

    ``check`` is applied to each entry, e.g. ``pair(k, "kernel_size", positive_int)``.
    """
    if is_pair(value):
        if len(value) != 2:
            raise ValueError(
                f"{name} must be an int or a pair (height, width), got {value!r} "
                f"with {len(value)} entries"
            )
        return (check(value[0], f"{name}[0]"), check(value[1], f"{name}[1]"))
    value = check(value, name)
    return (value, value)


def positive_pair(value, name):
    """A pair of integers >= 1 (an int ``k`` means ``(k, k)``)."""
    return pair(value, name, positive_int)


def nonneg_pair(value, name):
    """A pair of integers >= 0 (an int ``p`` means ``(p, p)``)."""
    return pair(value, name, nonneg_int)


def as_array(x, name):
    """Convert ``x`` to a real floating-point numpy array.

    Integers and booleans become float64; float32 stays float32.  Strings,
    objects, complex numbers and ragged nested lists are refused.
    """
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{name} could not be turned into a numeric array ({err}); "
            "pass a numpy array or a rectangular list of numbers"
        ) from None
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise ValueError(
            f"{name} must contain real numbers, got dtype {arr.dtype}; "
            "pass a numpy array of ints or floats"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); it needs at least one value")
    return arr


def check_ndim(arr, ndims, name, func, hint=""):
    """Raise if ``arr.ndim`` is not in ``ndims`` (an int or a tuple of ints)."""
    if isinstance(ndims, int):
        ndims = (ndims,)
    if arr.ndim not in ndims:
        wanted = " or ".join(f"{d}D" for d in ndims)
        raise ValueError(
            f"{func} expects {name} to be a {wanted} array, got shape {arr.shape}"
            + (f"; {hint}" if hint else "")
        )
    return arr


def check_fits(kernel, n, pad_before, pad_after, what="kernel", dim="", detail=""):
    """Raise if a window of size ``kernel`` does not fit in the padded input.

    ``detail`` explains the size, e.g. ``" = 2*(3-1)+1"`` for a dilated kernel.
    """
    padded = n + pad_before + pad_after
    if kernel > padded:
        pads = f"2*{pad_before}" if pad_before == pad_after else f"{pad_before} + {pad_after}"
        where = f" along {dim}" if dim else ""
        raise ValueError(
            f"{what} ({kernel}{detail}) is larger than the padded input{where} "
            f"({n} + {pads} = {padded}): pad the input or use a smaller {what}"
        )
