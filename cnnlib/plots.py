"""Figures used across the notebooks: image grids, learning curves, confusion matrices.

Each function draws on a new figure, gives it a title and axis labels, and returns the figure.
"""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt


def show_images(images, titles=None, ncols: int = 8, title: str = "", cmap: str = "gray", size: float = 1.4):
    """A grid of images (N, H, W) or (N, 1, H, W), each with an optional small title."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    n = len(images)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_filters(images, titles, title: str = "", cmap: str = "gray", size: float = 3.0):
    """Images side by side in one row (e.g. an image and its filtered versions), each titled."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size + 0.5), squeeze=False)
    for ax, img, name in zip(axes.flat, images, titles):
        ax.imshow(img, cmap=cmap)
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history, title: str = "Learning curve", best: bool = True):
    """Training and validation loss (left) and accuracy (right) per epoch from a `train.History`."""
    epochs = history["epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_loss.plot(epochs, history["train_loss"], "o-", label="training")
    ax_loss.plot(epochs, history["val_loss"], "o-", label="validation")
    ax_acc.plot(epochs, history["train_acc"], "o-", label="training")
    ax_acc.plot(epochs, history["val_acc"], "o-", label="validation")
    if best:
        ax_loss.axvline(history.best_epoch("val_loss"), color="gray", linestyle="--", label="best epoch")
    for ax, name in ((ax_loss, "cross-entropy loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_xticks(epochs)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(cm, title: str = "Confusion matrix", labels=None):
    """Heat map of a confusion matrix with the counts written in each cell.

    The off-diagonal cells (the errors) are coloured on their own scale and the diagonal is drawn in
    gray: the correct counts are 100 times larger and would otherwise leave every error looking white.
    """
    cm = np.asarray(cm)
    labels = list(range(len(cm))) if labels is None else labels
    diagonal = np.eye(len(cm), dtype=bool)
    errors = np.ma.masked_array(cm, mask=diagonal)
    top = max(int(errors.max() or 0), 1)
    cmap = plt.get_cmap("Reds").copy()
    cmap.set_bad("lightgray")
    fig, ax = plt.subplots(figsize=(6, 5.5))
    im = ax.imshow(errors, cmap=cmap, vmin=0, vmax=top)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if not diagonal[i, j] and cm[i, j] > top / 2 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="errors (off-diagonal count; diagonal in gray)")
    fig.tight_layout()
    return fig
