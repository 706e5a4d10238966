"""cnnlib.draw: MNIST-style centring, stroke rendering and the drawing pad, against independent references.

References: scipy.ndimage (centre of mass), the real MNIST digits (the convention and the round trip),
a 1-nearest-neighbour classifier in numpy (is a re-centred digit still the same digit), plain geometry
(which pixels a stroke covers) and torch (the pad's probabilities).

Centre convention: (14, 14) in 0-based (row, column) pixel indices, the same convention as
scipy.ndimage.center_of_mass. Not the geometric middle of 28 pixels (13.5): MNIST's digits have their
centre of mass at (14.0, 14.0) on average (test_the_convention_is_mnists_own), and the network is trained
on them. mnist_centre shifts by whole pixels, as MNIST did, so the centre of mass lands within half a
pixel; rounding the result to uint8 moves it by a further hundredth of a pixel at most, hence COM_TOL.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.path import Path as MplPath
from PIL import Image
from scipy import ndimage

from cnnlib import data, draw, models

COM_TOL = 0.5 + 0.02  # whole-pixel shift, then uint8 rounding (see the module docstring)


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist()


def com(image) -> np.ndarray:
    return np.array(ndimage.center_of_mass(np.asarray(image, dtype=float)))


def bbox(image) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), inclusive, of the nonzero pixels."""
    rows, cols = np.nonzero(image)
    return rows.min(), rows.max(), cols.min(), cols.max()


def assert_mnist_like(out: np.ndarray) -> None:
    """28x28 uint8; the ink fits 20x20 with its longer side 20 (19 where an edge resamples to 0); the centre
    of mass within COM_TOL of (14, 14), unless the digit was pushed against the frame's edge on that side."""
    assert out.shape == (28, 28) and out.dtype == np.uint8
    top, bottom, left, right = bbox(out)
    height, width = bottom - top + 1, right - left + 1
    assert max(height, width) in (19, 20) and min(height, width) <= 20, (height, width)
    for axis, (lo, hi) in enumerate(((top, bottom), (left, right))):
        off = com(out)[axis] - 14
        against_edge = (off < 0 and hi == 27) or (off > 0 and lo == 0)  # pushed back in by the frame
        assert abs(off) <= COM_TOL or against_edge, (axis, com(out), (top, bottom, left, right))


# ---- the convention, from MNIST itself ----------------------------------------------------------
def test_the_convention_is_mnists_own(mnist):
    X = mnist.X_train[:10_000]
    coms = np.array([com(x) for x in X])
    assert np.allclose(coms.mean(0), draw.CENTRE, atol=0.05), coms.mean(0)
    assert np.all(np.abs(coms.mean(0) - 13.5) > 0.4)  # the geometric middle is not it
    sides = np.array([max(b - t + 1, r - l + 1) for t, b, l, r in map(bbox, X)])
    assert sides.max() == draw.BOX and np.mean(sides == draw.BOX) > 0.99
    assert draw.FIELD == X.shape[1] == X.shape[2]


# ---- centring: properties on any drawing --------------------------------------------------------
@st.composite
def drawings(draw_, max_side=300):
    """A black canvas of random size with 1-4 random strokes (random width) in random places."""
    height, width = draw_(st.integers(1, max_side)), draw_(st.integers(1, max_side))
    points = st.tuples(st.floats(0, width - 1), st.floats(0, height - 1))
    strokes = draw_(st.lists(st.lists(points, min_size=1, max_size=5), min_size=1, max_size=4))
    pen = draw_(st.floats(1, 30))
    return draw.render_strokes(strokes, (height, width), pen)


@settings(max_examples=150, deadline=None)
@given(drawings())
def test_any_drawing_is_centred_and_fits_20x20(image):
    assert_mnist_like(draw.mnist_centre(image))


def test_every_pixel_and_single_pixels():
    assert_mnist_like(draw.mnist_centre(np.full((5, 3), 255, np.uint8)))
    for shape, at in (((1, 1), (0, 0)), ((50, 80), (49, 0)), ((3, 300), (1, 299))):
        img = np.zeros(shape, np.uint8)
        img[at] = 255
        out = draw.mnist_centre(img)
        assert_mnist_like(out)
        assert bbox(out)[1] - bbox(out)[0] == 19 == bbox(out)[3] - bbox(out)[2]  # one pixel becomes the box


@pytest.mark.parametrize("height, width", [(30, 90), (90, 30), (200, 50), (40, 40)])
def test_aspect_ratio_is_kept(height, width):
    img = np.zeros((300, 300), np.uint8)
    img[100:100 + height, 37:37 + width] = 255
    top, bottom, left, right = bbox(draw.mnist_centre(img))
    expected = (20 * height / max(height, width), 20 * width / max(height, width))
    assert abs(bottom - top + 1 - expected[0]) <= 1 and abs(right - left + 1 - expected[1]) <= 1


def test_a_lopsided_digit_is_kept_whole_in_the_frame():
    """Ink mostly at one end: its centre of mass is near the box's edge, the box is put against the frame's
    edge (not cut off), and the centre of mass stays as close to (14, 14) as that allows."""
    img = np.zeros((200, 100), np.uint8)
    img[:20, :] = 255  # a heavy bar on top
    img[195:, 48:52] = 255  # a speck far below
    out = draw.mnist_centre(img)
    top, bottom, left, right = bbox(out)
    assert (top, bottom) == (8, 27)  # 20 rows, the last at the frame's bottom edge: nothing was cut
    assert com(out)[0] < 14 - COM_TOL  # off-centre, as documented
    assert abs(com(out)[1] - 14) <= COM_TOL


def test_bool_and_float_inputs_match_uint8():
    img = draw.render_strokes([[(10, 10), (60, 80)]], 100, 9)
    assert np.array_equal(draw.mnist_centre(img > 0), draw.mnist_centre(img))
    assert np.abs(draw.mnist_centre(img / 255.0).astype(int) - draw.mnist_centre(img)).max() <= 1


# ---- centring real digits: a digit moved into a corner of a larger canvas comes back --------------
def corner_canvas(x: np.ndarray, scale: int, size: int) -> np.ndarray:
    big = np.zeros((size, size), np.uint8)
    big[:28 * scale, :28 * scale] = np.kron(x, np.ones((scale, scale), np.uint8))
    return big


def nearest_neighbour(train_X: np.ndarray, train_y: np.ndarray, X: np.ndarray) -> np.ndarray:
    T = train_X.reshape(len(train_X), -1).astype(np.float32)
    Z = np.asarray(X).reshape(len(X), -1).astype(np.float32)
    d = (Z ** 2).sum(1)[:, None] - 2 * Z @ T.T + (T ** 2).sum(1)[None]
    return train_y[d.argmin(1)]


def best_shift_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of a and b, b shifted by up to one pixel each way (the centring's whole-pixel rounding)."""
    return max(np.corrcoef(a.ravel().astype(float), np.roll(b, (dy, dx), (0, 1)).ravel().astype(float))[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


@pytest.mark.parametrize("scale, size", [(1, 64), (5, 300)])
def test_real_digits_in_a_corner_are_recovered(mnist, scale, size):
    X, y = mnist.X_test[:300], mnist.y_test[:300]
    back = np.stack([draw.mnist_centre(corner_canvas(x, scale, size)) for x in X])
    for out in back:
        assert_mnist_like(out)
    assert min(best_shift_correlation(x, out) for x, out in zip(X, back)) > 0.98

    # still the same digits to a 1-nearest-neighbour classifier on 10,000 training digits...
    train_X, train_y = mnist.X_train[:10_000], mnist.y_train[:10_000]
    original, recentred = nearest_neighbour(train_X, train_y, X), nearest_neighbour(train_X, train_y, back)
    assert np.mean(recentred == original) >= 0.97
    assert np.mean(recentred == y) >= np.mean(original == y) - 0.02
    # ... which does tell misplaced digits: the corner canvas shrunk whole to 28x28 is mostly misread
    shrunk = np.stack([np.asarray(Image.fromarray(corner_canvas(x, scale, size)).resize((28, 28), Image.LANCZOS))
                       for x in X])
    assert np.mean(nearest_neighbour(train_X, train_y, shrunk) == y) < 0.5


# ---- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("image, error, match", [
    (np.zeros((280, 280), np.uint8), ValueError, "empty.*draw a digit"),
    (np.zeros((280, 280)), ValueError, "empty"),
    (np.zeros((10, 10, 4), np.uint8), ValueError, r"shape \(height, width\), got shape \(10, 10, 4\).*channel"),
    (np.ones(28, np.uint8), ValueError, r"got shape \(28,\)"),
    (np.ones((0, 5), np.uint8), ValueError, r"got shape \(0, 5\)"),
    (np.ones((5, 5), np.int64), TypeError, "uint8, bool or float.*int64"),
    (np.ones((5, 5), np.complex64), TypeError, "complex64"),
    (np.full((5, 5), 255.0), ValueError, r"\[0, 1\].*uint8"),
    (np.full((5, 5), np.nan), ValueError, r"\[0, 1\]"),
    (np.full((5, 5), -0.5), ValueError, r"\[0, 1\]"),
])
def test_bad_images_are_refused_clearly(image, error, match):
    with pytest.raises(error, match=match):
        draw.mnist_centre(image)


# ---- rendering strokes: against geometry ---------------------------------------------------------
def covered(shape, p, q, radius) -> np.ndarray:
    """Pixels whose centre lies in a disc of ``radius`` at p or q, or in the rectangle of half-width
    ``radius`` along p-q (point in polygon by matplotlib). As on a browser's canvas, pixel (row, col) is
    the unit square from (col, row) to (col + 1, row + 1), its centre half a pixel in."""
    rows, cols = np.indices(shape)
    centres = np.stack([cols.ravel(), rows.ravel()], 1) + 0.5
    p, q = np.asarray(p, float), np.asarray(q, float)
    inside = (np.hypot(*(centres - p).T) <= radius) | (np.hypot(*(centres - q).T) <= radius)
    if np.any(p != q):
        normal = np.array([p[1] - q[1], q[0] - p[0]]) * radius / np.hypot(*(q - p))
        inside |= MplPath([p + normal, q + normal, q - normal, p - normal]).contains_points(centres)
    return inside.reshape(shape)


def segments(n=200, seed=0):
    """Random segments (a fifth of them dots) on a 100x120 canvas, with pens of 1-40 pixels."""
    rng = np.random.default_rng(seed)
    for k in range(n):
        p, q, width = tuple(rng.uniform((10, 10), (110, 90))), tuple(rng.uniform((10, 10), (110, 90))), rng.uniform(1, 40)
        yield (p, p, width) if k % 5 == 0 else (p, q, width)


def test_a_stroke_covers_the_pixels_near_its_segment():
    """A stroke is the set of points within width/2 of its segment: discs at its ends, a rectangle between.
    Pixel centres on the very boundary may fall either way (floating point), hence the 99 % overlap."""
    fixed = [((20, 50), (80, 50), 10), ((50, 10), (50, 90), 24), ((50, 50), (50, 50), 12), ((0, 0), (130, 99), 5)]
    for p, q, width in fixed + list(segments()):
        img = draw.render_strokes([[p, q]] if p != q else [[p]], (100, 120), width)
        assert img.shape == (100, 120) and img.dtype == np.uint8 and set(np.unique(img)) <= {0, 255}
        ink, ref = img > 0, covered(img.shape, p, q, width / 2)
        assert (ink & ref).sum() / (ink | ref).sum() > 0.99, (p, q, width)


def test_a_thin_pen_still_marks_its_points():
    img = draw.render_strokes([[(10.7, 20.2)], [(30.5, 5.5), (60.5, 5.5)]], (40, 80), 0.2)
    assert img[20, 10] == 255 and img[5, 30] == 255 and img[5, 60] == 255


def test_strokes_add_up():
    a, b = [[(10, 10), (90, 10)]], [[(10, 60), (50, 90), (90, 60)]]
    both = draw.render_strokes(a + b, 100, 8)
    assert np.array_equal(both, np.maximum(draw.render_strokes(a, 100, 8), draw.render_strokes(b, 100, 8)))


# ---- the drawing pad, without a browser ----------------------------------------------------------
def browser_message(pad, event, x, y):
    """What ipywidgets receives when the ipycanvas front end sends a mouse event (its JSON shape)."""
    pad.canvas._handle_msg({"content": {"data": {"method": "custom", "content": {"event": event, "x": x, "y": y}}},
                            "buffers": []})


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return models.bn_cnn().eval()


def reference_probs(net, strokes):
    image = draw.render_strokes(strokes, draw.DrawingPad.SIZE, draw.DrawingPad.PEN)
    x = torch.from_numpy(draw.mnist_centre(image).astype(np.float32) / 255)
    x = ((x - data.MNIST_MEAN) / data.MNIST_STD)[None, None]
    with torch.no_grad():
        return torch.softmax(net(x), 1)[0].numpy()


def test_pad_classifies_each_stroke_from_browser_messages(net):
    pad = draw.DrawingPad(net)
    assert pad.strokes == [] and pad.guess is None and "draw a digit" in pad.result.value
    browser_message(pad, "mouse_move", 10, 10)  # hovering draws nothing
    assert pad.strokes == []
    stroke = [(140.0, 40.0), (140.0, 140.0), (141.0, 240.0)]
    browser_message(pad, "mouse_down", *stroke[0])
    for point in stroke[1:]:
        browser_message(pad, "mouse_move", *point)
    assert pad.guess is None  # classified when the stroke ends, not before
    browser_message(pad, "mouse_up", *stroke[-1])
    assert pad.strokes == [stroke]
    np.testing.assert_allclose(pad.probs, reference_probs(net, [stroke]), atol=1e-5)
    assert pad.guess == int(np.argmax(pad.probs)) and f"predicted: {pad.guess}" in pad.result.value
    assert pad.digit.shape == (28, 28) and pad.digit.dtype == np.uint8

    # a second stroke, ended by leaving the canvas, joins the first
    second = [(80.0, 200.0), (200.0, 200.0)]
    browser_message(pad, "mouse_down", *second[0])
    browser_message(pad, "mouse_move", *second[1])
    browser_message(pad, "mouse_out", 300.0, 200.0)
    browser_message(pad, "mouse_move", 250.0, 250.0)  # pen up: ignored
    assert pad.strokes == [stroke, second + [(300.0, 200.0)]]
    np.testing.assert_allclose(pad.probs, reference_probs(net, pad.strokes), atol=1e-5)

    pad.clear_button.click()
    assert pad.strokes == [] and pad.guess is None and pad.probs is None and "draw a digit" in pad.result.value


def test_replay_sends_the_browsers_messages(net, monkeypatch):
    pad = draw.DrawingPad(net)
    seen, handle = [], pad.canvas._handle_custom_msg

    def spy(content, buffers):  # where ipywidgets hands a front end's custom message to the widget
        seen.append(content["event"])
        handle(content, buffers)

    monkeypatch.setattr(pad.canvas, "_handle_custom_msg", spy)
    strokes = [[(140, 40), (140, 140), (140, 240)], [(100, 100)]]
    pad.replay(strokes)
    assert seen == ["mouse_down", "mouse_move", "mouse_move", "mouse_up", "mouse_down", "mouse_up"]
    assert pad.strokes == [[(140.0, 40.0), (140.0, 140.0), (140.0, 240.0)], [(100.0, 100.0)]]
    np.testing.assert_allclose(pad.probs, reference_probs(net, strokes), atol=1e-5)


def test_pad_keeps_the_network_mode(net):
    net.train()
    try:
        draw.DrawingPad(net).replay([[(140, 40), (140, 240)]])
        assert net.training
    finally:
        net.eval()
