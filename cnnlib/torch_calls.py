"""Which torch operations a student's function reaches, by name, whatever form it took.

`cnnlib.forbid` catches a forbidden *function* under any name it was imported as. A torch operation can
also be reached as a tensor method (``logits.log_softmax(1)``), a ``torch.*`` function (``torch.dropout``),
a ``torch.nn.functional`` function or a module's ``forward``. A ``TorchFunctionMode`` sees every one of
these forms under the operation's own name (``log_softmax``), so :func:`run` forbids operations by name::

    loss, problem = torch_calls.run(my_loss, logits, y, case="a batch of 4", forbidden_ops={"log_softmax"})
    assert problem is None, problem
"""
from __future__ import annotations

import contextlib

from cnnlib import forbid


@contextlib.contextmanager
def record():
    """The names of the torch operations called inside the block (a list, in call order)."""
    names: list[str] = []
    with forbid.torch_mode(lambda func: names.append(getattr(func, "__name__", repr(func)))):
        yield names


def run(fn, *args, case: str, forbidden_ops=(), forbidden=(), **kwargs):
    """`forbid.run` (``forbidden`` functions and modules), also failing with a message naming ``case`` if
    ``fn`` reached a torch operation whose name is in ``forbidden_ops``. Returns ``(result, problem)``."""
    forbidden_ops = set(forbidden_ops)
    with record() as names:
        result, problem = forbid.run(fn, *args, case=case, forbidden=forbidden, **kwargs)
    used = [n for n in dict.fromkeys(names) if n in forbidden_ops]
    if used:
        name = getattr(fn, "__name__", "your function")
        return None, (f"{case}: {name} called torch's {', '.join(used)}, which this exercise does not allow "
                      f"(not allowed, in any form: {', '.join(sorted(forbidden_ops))})")
    return result, problem
