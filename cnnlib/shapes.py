"""Shape, parameter and receptive-field arithmetic for CNN layers.

Everything here is plain integer arithmetic except :func:`layer_table`
and the ``nn.Module`` form of :func:`receptive_field`, which import torch
when they are called (so ``import cnnlib.shapes`` stays fast).
"""

import html
from collections import namedtuple

from . import _args

# ---------------------------------------------------------------- output sizes


def _output_size(n, k, p, s, d, dim):
    span = d * (k - 1) + 1  # inputs covered by one (dilated) kernel
    if d == 1:
        _args.check_fits(span, n, p, p, dim=dim)
    else:
        _args.check_fits(span, n, p, p, "dilated kernel", dim, detail=f" = {d}*({k}-1)+1")
    return (n + 2 * p - span) // s + 1


def conv_output_size(n, kernel_size, padding=0, stride=1, dilation=1):
    """Output length of a convolution or pooling layer along one axis::

        out = floor((n + 2p - d(k-1) - 1) / s) + 1

    All arguments are ints; if any of them is a pair (height, width), every
    int is used for both axes and a pair is returned.
    """
    args = (n, kernel_size, padding, stride, dilation)
    if not any(_args.is_pair(a) for a in args):
        return _output_size(
            _args.positive_int(n, "n"),
            _args.positive_int(kernel_size, "kernel_size"),
            _args.nonneg_int(padding, "padding"),
            _args.positive_int(stride, "stride"),
            _args.positive_int(dilation, "dilation"),
            dim="",
        )
    ns = _args.positive_pair(n, "n")
    ks = _args.positive_pair(kernel_size, "kernel_size")
    ps = _args.nonneg_pair(padding, "padding")
    ss = _args.positive_pair(stride, "stride")
    ds = _args.positive_pair(dilation, "dilation")
    return tuple(
        _output_size(ns[a], ks[a], ps[a], ss[a], ds[a], dim)
        for a, dim in enumerate(("height", "width"))
    )


def _same_padding(k, d, name):
    span = d * (k - 1) + 1
    if span % 2 == 0:
        raise ValueError(
            f"{name} {k} with dilation {d} covers {span} inputs, an even number: "
            f"keeping the size needs {span - 1} zeros in total, which cannot be split "
            f"evenly, so it needs asymmetric padding ({(span - 1) // 2} on one side, "
            f"{span // 2} on the other) and a single padding value pads both sides "
            "equally. Use an odd kernel size, or pad asymmetrically yourself "
            "(numpy.pad or torch.nn.functional.pad) and then convolve with padding=0"
        )
    return (span - 1) // 2


def same_padding(kernel_size, dilation=1):
    """Padding that keeps the size unchanged at stride 1::

        p = d(k-1) / 2     (so that n + 2p - d(k-1) = n)

    For k = 3 this is 1, for k = 5 it is 2.  An even ``d(k-1)+1`` (e.g.
    k = 4) cannot be padded symmetrically and raises ValueError.  Pairs in,
    pair out.
    """
    if _args.is_pair(kernel_size) or _args.is_pair(dilation):
        ks = _args.positive_pair(kernel_size, "kernel_size")
        ds = _args.positive_pair(dilation, "dilation")
        return tuple(_same_padding(k, d, "kernel_size") for k, d in zip(ks, ds))
    return _same_padding(
        _args.positive_int(kernel_size, "kernel_size"),
        _args.positive_int(dilation, "dilation"),
        "kernel_size",
    )


# ---------------------------------------------------------------- parameter counts


def conv2d_params(in_channels, out_channels, kernel_size, bias=True, groups=1):
    """Trainable parameters of ``nn.Conv2d``::

        out_channels * (in_channels/groups * kh * kw) + out_channels   (bias)

    Each of the ``out_channels`` filters has one ``kh x kw`` kernel per input
    channel it sees, plus one bias.
    """
    c_in = _args.positive_int(in_channels, "in_channels")
    c_out = _args.positive_int(out_channels, "out_channels")
    kh, kw = _args.positive_pair(kernel_size, "kernel_size")
    g = _args.positive_int(groups, "groups")
    if c_in % g or c_out % g:
        raise ValueError(
            f"in_channels ({c_in}) and out_channels ({c_out}) must both be divisible "
            f"by groups ({g})"
        )
    return c_out * (c_in // g) * kh * kw + (c_out if bias else 0)


def linear_params(in_features, out_features, bias=True):
    """Trainable parameters of ``nn.Linear``: ``in*out`` weights + ``out`` biases."""
    n_in = _args.positive_int(in_features, "in_features")
    n_out = _args.positive_int(out_features, "out_features")
    return n_in * n_out + (n_out if bias else 0)


def batchnorm_params(num_features):
    """Trainable parameters of ``nn.BatchNorm2d``: ``2 * num_features``.

    One scale (gamma, ``weight``) and one shift (beta, ``bias``) per channel.
    The running mean and variance are *buffers*, not parameters: they are
    updated from the data during training, not by the optimizer.
    """
    return 2 * _args.positive_int(num_features, "num_features")


# ---------------------------------------------------------------- receptive field


def _torch_layer_specs(model):
    """(kernel, stride, dilation) of the conv/pool leaf modules, in order."""
    from torch import nn

    kinds = (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
    specs = []
    for module in model.modules():
        if isinstance(module, kinds) and not any(True for _ in module.children()):
            dilation = getattr(module, "dilation", 1)  # AvgPool has none
            specs.append((module.kernel_size, module.stride, dilation))
    return specs


def _as_pair(value, name):
    if isinstance(value, tuple) and len(value) == 1:  # Conv1d stores (k,)
        value = value[0]
    return _args.positive_pair(value, name)


def receptive_field(layers):
    """Size of the input region that one output unit of a layer stack sees.

    layers: an ``nn.Module`` (its Conv1d/Conv2d/MaxPool/AvgPool leaf modules
    are used in registration order, which is forward order for
    nn.Sequential; activations, batch norm, flatten, linear... are ignored),
    or a list of ``(kernel, stride)`` / ``(kernel, stride, dilation)``
    tuples, each entry an int or a pair (height, width).

    Starting from r = 1 (one unit) and jump j = 1, each layer adds::

        r += (k - 1) * d * j      then      j *= s

    where j is the distance, in input pixels, between neighbouring units of
    the current layer.  Padding does not change r.  Returns an int when the
    field is square, else a pair (height, width).
    """
    if hasattr(layers, "modules") and callable(layers.modules):
        specs = _torch_layer_specs(layers)
    elif isinstance(layers, (list, tuple)):
        specs = layers
    else:
        raise ValueError(
            "receptive_field expects an nn.Module or a list of (kernel, stride) / "
            f"(kernel, stride, dilation) tuples, got {type(layers).__name__}"
        )
    r, j = [1, 1], [1, 1]
    for i, spec in enumerate(specs):
        if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
            raise ValueError(
                f"layer {i} is {spec!r}: give (kernel, stride) or (kernel, stride, dilation)"
            )
        k = _as_pair(spec[0], f"layer {i} kernel")
        s = _as_pair(spec[1], f"layer {i} stride")
        d = _as_pair(spec[2], f"layer {i} dilation") if len(spec) == 3 else (1, 1)
        for a in (0, 1):
            r[a] += (k[a] - 1) * d[a] * j[a]
            j[a] *= s[a]
    return r[0] if r[0] == r[1] else tuple(r)


# ---------------------------------------------------------------- layer table

LayerRow = namedtuple("LayerRow", ["name", "type", "output_shape", "params"])


class LayerTable(list):
    """Rows ``LayerRow(name, type, output_shape, params)`` plus totals.

    ``total_params`` and ``trainable_params`` count every parameter of the
    model once.  Printing it (or showing it in a notebook) draws a table.
    """

    def __init__(self, rows, total_params, trainable_params):
        super().__init__(rows)
        self.total_params = total_params
        self.trainable_params = trainable_params

    def _cells(self):
        header = ("Layer", "Type", "Output shape", "Params")
        body = [(r.name or "(model)", r.type, str(r.output_shape), f"{r.params:,}") for r in self]
        return header, body

    def _totals(self):
        return [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
        ]

    def __str__(self):
        header, body = self._cells()
        widths = [max(len(row[c]) for row in [header, *body]) for c in range(4)]

        def line(row):
            left = "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths))
            return f"{left}  {row[3].rjust(widths[3])}"

        rule = "-" * len(line(header))
        return "\n".join([line(header), rule, *map(line, body), rule, *self._totals()])

    __repr__ = __str__

    def _repr_html_(self):
        header, body = self._cells()
        th = "".join(f"<th>{h}</th>" for h in header)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in body
        )
        totals = "<br>".join(self._totals())
        return f"<table><thead><tr>{th}</tr></thead><tbody>{rows}</tbody></table><p>{totals}</p>"


def _shape_of(output):
    if hasattr(output, "shape"):
        return tuple(int(n) for n in output.shape)
    if isinstance(output, (tuple, list)):
        return tuple(_shape_of(o) for o in output)
    return None


def layer_table(model, input_size):
    """Run ``model`` on ``torch.zeros(input_size)`` and tabulate its leaf layers.

    input_size includes the batch axis, e.g. ``(1, 1, 28, 28)``.  The pass
    runs in eval mode under ``torch.no_grad()``; afterwards every module's
    train/eval flag is restored and the temporary forward hooks are removed.

    Returns a :class:`LayerTable`: one row per call of a leaf module, in the
    order they run, named as in ``model.named_modules()`` (``""`` when the
    model itself is a single layer) (a module called twice appears twice; its parameters are
    counted on its first row only).  Layers used through torch.nn.functional
    (e.g. ``F.max_pool2d``) are not modules and do not appear.
    """
    import torch

    if not isinstance(input_size, (tuple, list)):  # torch.Size is a tuple
        raise ValueError(
            f"input_size must be a tuple such as (1, 3, 32, 32) including the batch "
            f"axis, got {input_size!r}"
        )
    size = tuple(_args.positive_int(n, f"input_size[{i}]") for i, n in enumerate(input_size))

    rows, counted = [], set()

    def hook_for(name):
        def hook(module, inputs, output):
            params = 0
            if module not in counted:
                counted.add(module)
                params = sum(p.numel() for p in module.parameters())
            rows.append(LayerRow(name, type(module).__name__, _shape_of(output), params))

        return hook

    was_training = {m: m.training for m in model.modules()}
    first = next(model.parameters(), None)
    device = first.device if first is not None else None
    dtype = first.dtype if first is not None and first.is_floating_point() else None
    handles = []
    try:
        for name, module in model.named_modules():
            if not any(True for _ in module.children()):
                handles.append(module.register_forward_hook(hook_for(name)))
        model.eval()
        with torch.no_grad():
            model(torch.zeros(size, device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in was_training.items():
            module.training = flag

    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return LayerTable(rows, total, trainable)
