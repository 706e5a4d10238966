"""Digits drawn by hand or in code, made to look like MNIST, and a drawing pad for the notebook.

LeCun's MNIST procedure (yann.lecun.com/exdb/mnist): each NIST digit was scaled, aspect ratio kept, to fit
a 20x20 box, which anti-aliasing turns into grey levels, then placed in a 28x28 field so that its centre
of mass sits at the field's centre. :func:`mnist_centre` does that. "The centre" is pixel (14, 14) in
0-based (row, column) indices, not the geometric middle 13.5: that is where the real digits have it
(their mean centre of mass is (14.0, 14.0), checked in tests/test_draw.py), and the network learned them.

:class:`DrawingPad` is an ipycanvas widget: draw with the mouse, and after each stroke the drawing is
centred and classified. It keeps the strokes in Python and renders them with :func:`render_strokes`, so
what the network sees does not depend on a browser; :meth:`DrawingPad.replay` sends strokes through the
very messages a browser sends, which is how a notebook run without a browser (CI) still draws.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

FIELD = 28  # MNIST's image size
BOX = 20  # the box the digit is scaled to fit
CENTRE = (14.0, 14.0)  # (row, column) of the centre of mass, MNIST's own (see above)


def _as_ink(image) -> np.ndarray:
    """The image as float ink in [0, 255], or a clear error."""
    image = np.asarray(image)
    if image.ndim != 2 or min(image.shape) < 1:
        raise ValueError(f"expected one grey-level image of shape (height, width), got shape {image.shape}"
                         " (for RGB(A) take one channel, e.g. image[..., 3] for a canvas's alpha)")
    if image.dtype == np.bool_ or image.dtype == np.uint8:
        return image.astype(np.float64) * (255.0 if image.dtype == np.bool_ else 1.0)
    if np.issubdtype(image.dtype, np.floating):
        if not np.all(np.isfinite(image)) or image.min() < 0 or image.max() > 1:
            raise ValueError(f"a float image must hold values in [0, 1], got {image.min()}..{image.max()}"
                             " (for 0..255 values pass them as uint8)")
        return image.astype(np.float64) * 255.0
    raise TypeError(f"expected a uint8, bool or float (0..1) image, got dtype {image.dtype}")


def mnist_centre(image) -> np.ndarray:
    """A drawing of any size as a 28x28 uint8 MNIST digit (white ink on black, 0..255).

    The ink's bounding box is scaled, aspect ratio kept, so that its longer side is 20 pixels (Lanczos
    resampling: anti-aliased), then pasted into a 28x28 frame at the whole-pixel offset that puts its centre
    of mass within half a pixel of (14, 14) (rounding to uint8 adds a hundredth or two). The whole digit
    always stays in the frame: where the centre of mass lies so far to one side that the 20-pixel box would
    stick out, the box is put against the frame's edge instead.
    ``image`` is 2-D, uint8 (0..255), bool, or float in [0, 1]; an image without ink raises ValueError.
    """
    ink = _as_ink(image)
    rows, cols = np.nonzero(ink)
    if len(rows) == 0:
        raise ValueError("the image is empty (no pixel above 0): draw a digit first")
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = BOX / max(ink.shape)
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))  # PIL: (width, height)
    digit = np.asarray(Image.fromarray(ink.astype(np.float32)).resize(size, Image.LANCZOS),
                       dtype=np.float64).clip(0, 255)  # Lanczos rings a little below 0 and above 255
    total = digit.sum()
    if total == 0:  # too faint to survive resampling
        raise ValueError("the drawing is too faint to centre: draw with a thicker or brighter pen")
    r, c = np.indices(digit.shape)
    com = (r * digit).sum() / total, (c * digit).sum() / total
    top, left = (int(np.clip(round(centre - m), 0, FIELD - n)) for centre, m, n in zip(CENTRE, com, digit.shape))
    frame = np.zeros((FIELD, FIELD))
    frame[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return frame.round().astype(np.uint8)


def render_strokes(strokes, size: int | tuple[int, int], width: float) -> np.ndarray:
    """White strokes on a black ``size`` canvas (an int or (height, width)), as a bilevel uint8 image (0, 255).

    Each stroke is a sequence of (x, y) points joined by a line ``width`` pixels wide with round ends and
    joints, the shape a browser canvas draws with ``lineCap = lineJoin = "round"``: a pixel is ink when its
    centre (x + 0.5, y + 0.5 for the pixel at column x, row y) lies within width/2 of a segment. A one-point
    stroke is a dot; a pen narrower than a pixel still marks the pixels under its points.
    """
    height, wide = (size, size) if np.isscalar(size) else size
    ink = np.zeros((int(height), int(wide)), bool)
    r = width / 2
    for stroke in strokes:
        points = np.array([(float(x), float(y)) for x, y in stroke]).reshape(-1, 2)
        for p, q in zip(points, points[1:]) if len(points) > 1 else [(points[0], points[0])]:
            (x0, y0), (x1, y1) = np.floor(np.minimum(p, q) - r), np.ceil(np.maximum(p, q) + r)
            x0, x1 = int(np.clip(x0, 0, wide)), int(np.clip(x1, 0, wide))  # only the segment's own box
            y0, y1 = int(np.clip(y0, 0, height)), int(np.clip(y1, 0, height))
            ys, xs = np.mgrid[y0:y1, x0:x1] + 0.5
            along = q - p
            t = np.clip(((xs - p[0]) * along[0] + (ys - p[1]) * along[1]) / max(along @ along, 1e-12), 0, 1)
            ink[y0:y1, x0:x1] |= (xs - p[0] - t * along[0]) ** 2 + (ys - p[1] - t * along[1]) ** 2 <= r * r
        inside = np.all((points >= 0) & (points < (wide, height)), axis=1)
        ink[points[inside, 1].astype(int), points[inside, 0].astype(int)] = True
    return ink.astype(np.uint8) * 255


def probabilities(net, digit: np.ndarray) -> np.ndarray:
    """The network's 10 class probabilities for one 28x28 uint8 digit (inference mode, net's device)."""
    import torch

    from cnnlib import data

    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            probs = torch.softmax(net(data.normalize(digit[None]).to(device)), dim=1)[0]
    finally:
        net.train(was_training)
    return probs.cpu().numpy()


class DrawingPad:
    """Draw a digit with the mouse; after each stroke it is centred like MNIST and classified by ``net``.

    ``pad.widget`` shows the canvas with a Clear button, the centred 28x28 digit and the probabilities.
    After each stroke ``pad.digit`` (the centred image), ``pad.probs`` and ``pad.guess`` hold the result.
    """

    SIZE = 280  # canvas pixels: 10 per MNIST pixel
    PEN = 24  # pen width in canvas pixels: about MNIST's stroke width once a digit is scaled into 20x20

    def __init__(self, net):
        import ipywidgets as w
        from ipycanvas import Canvas

        self.net = net
        self.strokes: list[list[tuple[float, float]]] = []
        self.digit = self.probs = self.guess = None
        self._pen_down = False
        self.canvas = Canvas(width=self.SIZE, height=self.SIZE, layout=w.Layout(width=f"{self.SIZE}px"))
        self.canvas.add_class("mnist-drawing-pad")
        for event, handler in (("down", self._down), ("move", self._move), ("up", self._up), ("out", self._up)):
            getattr(self.canvas, f"on_mouse_{event}")(handler)
        self.canvas.on_client_ready(self._repaint)  # a page opened later gets an empty canvas: redraw
        self.clear_button = w.Button(description="Clear", icon="eraser")
        self.clear_button.on_click(lambda _: self.clear())
        self.result = w.HTML()
        self.figure = w.Output(layout=w.Layout(width="420px", height="230px"))
        self.widget = w.HBox([w.VBox([self.canvas, self.clear_button]), w.VBox([self.result, self.figure])])
        self.clear()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # -- mouse events (ipycanvas calls these with canvas coordinates)
    def _down(self, x, y):
        self._pen_down = True
        self.strokes.append([(x, y)])
        self.canvas.fill_circle(x, y, self.PEN / 2)

    def _move(self, x, y):
        if self._pen_down:
            self.canvas.stroke_line(*self.strokes[-1][-1], x, y)
            self.strokes[-1].append((x, y))

    def _up(self, x, y):
        if self._pen_down:
            if (x, y) != self.strokes[-1][-1]:
                self._move(x, y)
            self._pen_down = False
            self.predict()

    def replay(self, strokes) -> None:
        """Draw ``strokes`` (lists of (x, y) canvas points) through the messages a browser sends."""
        for stroke in strokes:
            events = ["mouse_down"] + ["mouse_move"] * (len(stroke) - 1) + ["mouse_up"]
            for event, (x, y) in zip(events, [stroke[0], *stroke[1:], stroke[-1]]):
                self.canvas._handle_custom_msg({"event": event, "x": float(x), "y": float(y)}, [])

    # -- results
    def image(self) -> np.ndarray:
        """The strokes so far on a black SIZE x SIZE canvas (uint8), the way the browser shows them."""
        return render_strokes(self.strokes, self.SIZE, self.PEN)

    def predict(self) -> None:
        self.digit = mnist_centre(self.image())
        self.probs = probabilities(self.net, self.digit)
        self.guess = int(self.probs.argmax())
        self.result.value = f"<b>predicted: {self.guess}</b> ({self.probs[self.guess]:.0%} sure)"
        self._show_figure()

    def _show_figure(self) -> None:
        from IPython.display import display
        from matplotlib.figure import Figure  # not pyplot: no figure left for the notebook to show again

        fig = Figure(figsize=(4.2, 2.2), layout="constrained")
        ax_img, ax_bar = fig.subplots(1, 2, width_ratios=[1, 1.6])
        ax_img.imshow(self.digit, cmap="gray", vmin=0, vmax=255)
        ax_img.set_title("what the network sees", fontsize=8)
        ax_img.axis("off")
        ax_bar.bar(range(10), self.probs, color=["C1" if k == self.guess else "C0" for k in range(10)])
        ax_bar.set_xticks(range(10))
        ax_bar.set_ylim(0, 1)
        ax_bar.set_xlabel("digit", fontsize=8)
        ax_bar.set_ylabel("probability", fontsize=8)
        ax_bar.set_title("the network's probabilities", fontsize=8)
        with self.figure:
            self.figure.clear_output(wait=True)
            display(fig)

    def clear(self) -> None:
        self.strokes, self._pen_down = [], False
        self.digit = self.probs = self.guess = None
        self._repaint()
        self.result.value = "draw a digit in the black square"
        self.figure.clear_output()

    def _repaint(self) -> None:
        c = self.canvas
        c.clear()
        c.fill_style, c.stroke_style = "black", "white"
        c.line_width, c.line_cap, c.line_join = self.PEN, "round", "round"
        c.fill_rect(0, 0, self.SIZE, self.SIZE)
        c.fill_style = "white"
        for stroke in self.strokes:
            c.fill_circle(*stroke[0], self.PEN / 2)
            if len(stroke) > 1:
                c.stroke_lines(stroke)
