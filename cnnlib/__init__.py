"""cnnlib: the one helper package of the cnn-course notebooks.

Import what a notebook needs by module, d2l-style::

    from cnnlib import conv, pool, shapes, data, models, train, plots

Modules (each small, named for what it holds):
    conv     reference 1D/2D convolution and cross-correlation, batched conv forward pass (numpy)
    pool     max and average pooling (numpy)
    shapes   output-size, padding, parameter-count and receptive-field arithmetic; layer tables
    data     offline MNIST: verified arrays, train/validation split, tensors, torchvision datasets
    models   the course's networks, built from the `conv` block
    train    seeding, device choice, the training loop with progress bar and history, evaluation
    plots    figures: images, learning curves, confusion matrices
    draw     MNIST-style centring of a drawn digit, stroke rendering, the notebooks' drawing pad (ipycanvas)
    checks   self-checks and grading checks that print what matched and by how much
    forbid   run a student's function in a test, failing on calls the exercise forbids (any alias)
"""
__version__ = "0.1.0"
