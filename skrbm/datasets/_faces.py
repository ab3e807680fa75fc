"""Binary face images with controllable attributes: a procedural generator and a CelebA loader.

Two public functions:

- :func:`make_faces` draws small binary line drawings of faces whose binary attributes
  ("smiling", "glasses") are independent of each other and of every nuisance variable (face
  position and size, eye position and size, hair style, mouth position, pixel noise) by
  construction. Because the random stream is consumed in a fixed order, the same
  ``random_state`` with other attribute values gives the counterfactual images: the same faces
  with only the attributes changed, the ground truth of attribute transfer.
- :func:`load_celeba` reads the CelebA data set from its usual on-disk layout (aligned JPEG
  images and the attribute text files), crops and resizes the faces to small grey-level or
  binary images and returns them with the requested attributes. It needs Pillow and never
  downloads anything.
"""

import numbers
import os

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["FACE_ATTRIBUTES", "load_celeba", "make_faces"]

#: Attributes that :func:`make_faces` can vary, in the order of its random draws.
FACE_ATTRIBUTES = ("smiling", "glasses")

# Number of uniform numbers drawn per face for the nuisance variables (see _draw_nuisance).
_N_NUISANCE = 17


# --------------------------------------------------------------------------------------------
# argument checking
# --------------------------------------------------------------------------------------------


def _check_int(value, name, minimum):
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not ok or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_attributes(attributes, allowed, name="attributes"):
    if isinstance(attributes, str):
        attributes = (attributes,)
    try:
        attributes = tuple(attributes)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of names, got {attributes!r}.") from None
    if len(attributes) == 0:
        raise ValueError(f"{name} must name at least one attribute.")
    for a in attributes:
        if not isinstance(a, str):
            raise ValueError(f"{name} must contain strings, got {a!r}.")
    if len({a.lower() for a in attributes}) != len(attributes):
        raise ValueError(f"{name} contains a repeated name: {attributes!r}.")
    if allowed is not None:
        bad = [a for a in attributes if a not in allowed]
        if bad:
            raise ValueError(f"Unknown attribute(s) {bad!r}; choose among {list(allowed)!r}.")
    return attributes


# --------------------------------------------------------------------------------------------
# procedural faces
# --------------------------------------------------------------------------------------------


def _lerp(u, lo, hi):
    return lo + (hi - lo) * u


def _draw_nuisance(U, size):
    """Map uniforms ``U`` (n, _N_NUISANCE) to the nuisance parameters of n faces, in pixels."""
    S = float(size)
    p = {}
    p["cx"] = S / 2 + _lerp(U[:, 0], -0.07, 0.07) * S
    p["cy"] = S / 2 + _lerp(U[:, 1], -0.05, 0.07) * S
    p["a"] = _lerp(U[:, 2], 0.27, 0.32) * S  # horizontal semi-axis of the head
    p["b"] = _lerp(U[:, 3], 0.33, 0.38) * S  # vertical semi-axis
    p["eye_dx"] = _lerp(U[:, 4], 0.40, 0.50) * p["a"]
    p["eye_dy"] = _lerp(U[:, 5], 0.12, 0.26) * p["b"]
    p["eye_r"] = _lerp(U[:, 6], 0.030, 0.050) * S
    p["glass_r"] = np.minimum(_lerp(U[:, 7], 0.085, 0.105) * S, 0.85 * p["eye_dx"])
    p["mouth_dx"] = _lerp(U[:, 8], -0.02, 0.02) * S
    p["mouth_dy"] = _lerp(U[:, 9], 0.45, 0.55) * p["b"]
    p["mouth_w"] = _lerp(U[:, 10], 0.38, 0.52) * p["a"]  # half width
    p["smile_depth"] = _lerp(U[:, 11], 0.075, 0.11) * S  # corners above the centre
    p["neutral_depth"] = _lerp(U[:, 12], -0.05, 0.012) * S  # flat or frowning
    # hair: 0 none (bald), 1 cap, 2 cap and long hair on the sides
    p["hair_style"] = np.searchsorted([0.25, 0.65], U[:, 13], side="right")
    p["hairline"] = _lerp(U[:, 14], 0.55, 0.78) * p["b"]  # above the centre
    p["hair_len"] = _lerp(U[:, 15], 0.0, 0.45) * p["b"]  # below the centre, long hair
    p["hair_thick"] = _lerp(U[:, 16], 1.10, 1.28)  # outer radius of the hair, head units
    return p


def _render_faces(p, smiling, glasses, size):
    """Draw the faces of parameters ``p``; returns a bool array (n, size, size)."""
    S = size
    t = max(1.0, S / 32.0)  # line thickness in pixels
    half = 0.62 * t
    y, x = np.mgrid[0:S, 0:S].astype(np.float64) + 0.5
    x = x[None]
    y = y[None]

    def col(v):
        return np.asarray(v, dtype=np.float64)[:, None, None]

    cx, cy, a, b = col(p["cx"]), col(p["cy"]), col(p["a"]), col(p["b"])
    dx, dy = x - cx, y - cy

    # head outline: distance to the ellipse, first order |F| / |grad F| with F = r - 1
    r = np.sqrt((dx / a) ** 2 + (dy / b) ** 2)
    grad = np.sqrt((dx / a**2) ** 2 + (dy / b**2) ** 2) / np.maximum(r, 1e-12)
    img = np.abs(r - 1.0) / np.maximum(grad, 1e-12) < 0.75 * t

    # hair
    style = p["hair_style"][:, None, None]
    hairline = cy - col(p["hairline"])
    thick = col(p["hair_thick"])
    cap = (style >= 1) & (r <= thick) & (y < hairline)
    sides = (style == 2) & (r >= 1.0) & (r <= thick + 0.08) & (y < cy + col(p["hair_len"]))
    img |= cap | sides

    # eyes, and glasses around them
    eye_y = cy - col(p["eye_dy"])
    ex = col(p["eye_dx"])
    er = col(p["eye_r"])
    gr = col(p["glass_r"])
    g = col(glasses).astype(bool)
    for side in (-1.0, 1.0):
        d = np.sqrt((x - (cx + side * ex)) ** 2 + (y - eye_y) ** 2)
        img |= d <= er
        img |= g & (np.abs(d - gr) < half + 0.1)
    bridge = g & (np.abs(y - eye_y) < half) & (np.abs(x - cx) <= ex - gr + 0.5)
    img |= bridge

    # mouth: parabola y = my - depth * u^2, u = (x - mx) / w in [-1, 1]
    mx = cx + col(p["mouth_dx"])
    my = cy + col(p["mouth_dy"])
    w = col(p["mouth_w"])
    depth = np.where(col(smiling).astype(bool), col(p["smile_depth"]), col(p["neutral_depth"]))
    u = (x - mx) / w
    curve = my - depth * u**2
    slope = -2.0 * depth * u / w
    dist = np.abs(y - curve) / np.sqrt(1.0 + slope**2)
    on_curve = (np.abs(u) <= 1.0) & (dist < half)
    # a smile shows the teeth: the crescent between the curve and the chord of its corners
    open_mouth = (
        col(smiling).astype(bool) & (np.abs(u) <= 1.0) & (y > my - depth - half) & (y < curve)
    )
    img |= on_curve | open_mouth
    return img


def make_faces(
    n_samples,
    *,
    attributes=("smiling", "glasses"),
    size=32,
    noise=0.02,
    attribute_values=None,
    random_state=None,
    return_attributes=True,
):
    """Generate binary face drawings with independent binary attributes.

    Each face is a line drawing on a ``size x size`` grid: the outline of an elliptic head,
    two eyes, a mouth, optional hair, optional glasses. Pixels are 1 on the drawing and 0
    elsewhere, then every pixel is flipped independently with probability ``noise``.

    Attributes, each drawn independently with probability 1/2:

    - ``"smiling"``: an open smile, the mouth is a parabola whose corners are 2.4 to 3.5
      pixels (at ``size=32``) above its centre, and the crescent between the curve and the
      chord of its corners is filled (the teeth); otherwise the mouth is a thin line, flat
      or turned down (corners between 1.6 pixels below and 0.4 pixels above the centre).
    - ``"glasses"``: a ring around each eye and a bridge between the rings.

    Nuisance variation, drawn independently of the attributes: position (about +-2 pixels)
    and size (+-8 %) of the head, position and size of the eyes, position and width of the
    mouth, hair (none, a cap, or a cap and long hair on the sides, with varying hairline,
    length and thickness) and the pixel noise. An attribute not listed in ``attributes`` is
    absent from every face (flat or frowning mouth; no glasses).

    The random numbers are drawn in a fixed order that does not depend on ``attributes``
    nor on ``attribute_values``: calling again with the same ``random_state`` and other
    ``attribute_values`` draws the same faces (same nuisance variables and noise pattern)
    with other attributes, the ground truth for attribute transfer.

    Parameters
    ----------
    n_samples : int
        Number of faces, ``>= 1``.
    attributes : sequence of str, default=("smiling", "glasses")
        Attributes to vary, a subset of ``("smiling", "glasses")``; their order gives the
        columns of the returned attribute array.
    size : int, default=32
        Side of the square images in pixels, ``>= 16``. Every length scales with ``size``.
    noise : float, default=0.02
        Probability, in ``[0, 0.5)``, that each pixel is flipped.
    attribute_values : array-like of shape (n_samples, n_attributes), default=None
        Attributes to draw instead of the random ones, in ``{0, 1}``, columns in the order
        of ``attributes``. The random attributes are still drawn (and discarded) so that
        the faces are those of the same ``random_state`` without ``attribute_values``.
    random_state : int, RandomState instance or None, default=None
        Seed or generator of the random draws.
    return_attributes : bool, default=True
        Whether to return the attribute array with the images.

    Returns
    -------
    X : ndarray of shape (n_samples, size * size), dtype float64
        Images flattened row by row (C order), entries in ``{0.0, 1.0}``.
    A : ndarray of shape (n_samples, n_attributes), dtype int64
        Attribute values in ``{0, 1}``, one column per entry of ``attributes``. Only
        returned when ``return_attributes=True``.

    Examples
    --------
    >>> from skrbm.datasets import make_faces
    >>> X, A = make_faces(200, random_state=0)
    >>> X.shape, A.shape
    ((200, 1024), (200, 2))
    >>> sorted(set(X.ravel().tolist()))
    [0.0, 1.0]
    >>> A.mean(axis=0).round(1)
    array([0.5, 0.5])

    Counterfactual images, the same faces with the smile flipped:

    >>> X_flip, A_flip = make_faces(200, attribute_values=A ^ [1, 0], random_state=0)
    >>> bool((A_flip[:, 0] != A[:, 0]).all()), bool((A_flip[:, 1] == A[:, 1]).all())
    (True, True)
    >>> changed = (X_flip != X).reshape(200, 32, 32)
    >>> bool(changed[:, :12].any())  # the upper half of the face is untouched
    False
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    size = _check_int(size, "size", 16)
    attributes = _check_attributes(attributes, FACE_ATTRIBUTES)
    if not isinstance(noise, numbers.Real) or not 0.0 <= noise < 0.5:
        raise ValueError(f"noise must be a float in [0, 0.5), got {noise!r}.")
    rng = check_random_state(random_state)

    # fixed order of draws: attributes, nuisance variables, pixel noise
    drawn = (rng.random_sample((n_samples, len(FACE_ATTRIBUTES))) < 0.5).astype(np.int64)
    U = rng.random_sample((n_samples, _N_NUISANCE))
    flips = rng.random_sample((n_samples, size, size)) < noise

    A = drawn[:, [FACE_ATTRIBUTES.index(a) for a in attributes]]
    if attribute_values is not None:
        values = np.asarray(attribute_values)
        if values.shape != A.shape:
            raise ValueError(
                f"attribute_values must have shape {A.shape} (n_samples, n_attributes), "
                f"got {values.shape}."
            )
        if not np.isin(values, (0, 1)).all():
            raise ValueError("attribute_values must contain only 0 and 1.")
        A = values.astype(np.int64)
    full = np.zeros((n_samples, len(FACE_ATTRIBUTES)), dtype=np.int64)
    for j, a in enumerate(attributes):
        full[:, FACE_ATTRIBUTES.index(a)] = A[:, j]

    p = _draw_nuisance(U, size)
    X = np.empty((n_samples, size * size), dtype=np.float64)
    chunk = max(1, 2**22 // (size * size))  # bound the memory of the rendering
    for start in range(0, n_samples, chunk):
        sl = slice(start, start + chunk)
        img = _render_faces({k: v[sl] for k, v in p.items()}, full[sl, 0], full[sl, 1], size)
        img ^= flips[sl]
        X[sl] = img.reshape(img.shape[0], -1)
    if return_attributes:
        return X, A
    return X


# --------------------------------------------------------------------------------------------
# CelebA
# --------------------------------------------------------------------------------------------

_PARTITIONS = {"train": 0, "valid": 1, "validation": 1, "val": 1, "test": 2}
_CELEBA_ALIASES = {"glasses": "Eyeglasses"}

# Crop of the aligned 178 x 218 CelebA images used by many generative-model papers
# (x 15..163, y 40..188), expressed as fractions of the image so that it applies to
# resized copies too: a square of side 148/178 of the width centred at (w/2, 114/218 h).
_CROP_SIDE = 148.0 / 178.0
_CROP_CY = 114.0 / 218.0


def _find_first(candidates, what, path):
    for c in candidates:
        if os.path.exists(c):
            return c
    tried = ", ".join(os.path.relpath(c, path) for c in candidates)
    raise FileNotFoundError(
        f"CelebA {what} not found under {path!r} (looked for: {tried}). Expected CelebA's "
        "on-disk layout: img_align_celeba/*.jpg, list_attr_celeba.txt and optionally "
        "list_eval_partition.txt (also accepted: Img/, Anno/, Eval/ sub-folders, or a "
        "celeba/ sub-folder). skrbm never downloads CelebA."
    )


def _read_attr_file(filename):
    """Parse ``list_attr_celeba.txt``: count, attribute names, then ``name v1 .. v40``."""
    with open(filename, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if len(lines) < 2:
        raise ValueError(f"{filename}: expected a count line and a line of attribute names.")
    try:
        count = int(lines[0].split()[0])
    except (ValueError, IndexError):
        raise ValueError(f"{filename}: first line must be the number of images.") from None
    names = lines[1].split()
    rows = lines[2:]
    if len(rows) != count:
        raise ValueError(f"{filename}: header announces {count} images, found {len(rows)} rows.")
    files = []
    values = np.empty((count, len(names)), dtype=np.int64)
    for i, line in enumerate(rows):
        parts = line.split()
        if len(parts) != len(names) + 1:
            raise ValueError(
                f"{filename}, row {i + 3}: expected a file name and {len(names)} values."
            )
        files.append(parts[0])
        values[i] = [int(v) for v in parts[1:]]
    if not np.isin(values, (-1, 1)).all():
        raise ValueError(f"{filename}: attribute values must be 1 or -1.")
    return files, names, values


def _read_partition_file(filename):
    part = {}
    with open(filename, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if parts:
                part[parts[0]] = int(parts[1])
    return part


def _import_pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "load_celeba needs Pillow to read JPEG images: pip install pillow"
        ) from None
    return Image


def load_celeba(
    path,
    *,
    attributes=("Smiling", "Eyeglasses"),
    size=32,
    n=None,
    binarize=True,
    partition=None,
):
    """Load CelebA faces and binary attributes from a local copy of the data set.

    Reads CelebA's on-disk layout under ``path``::

        path/img_align_celeba/000001.jpg ...   aligned and cropped 178 x 218 JPEG images
        path/list_attr_celeba.txt              attributes
        path/list_eval_partition.txt           train / valid / test split (optional)

    The layout of the official archive (``Img/img_align_celeba``, ``Anno/``, ``Eval/``) and
    a ``celeba/`` sub-folder (as laid out by torchvision) are accepted too. Nothing is
    downloaded: CelebA must already be on disk.

    ``list_attr_celeba.txt`` has the number of images on its first line, the 40 attribute
    names on the second, then one line per image, ``000001.jpg -1  1  1 -1 ...``, with
    values 1 (present) or -1 (absent). ``list_eval_partition.txt`` has one line
    ``000001.jpg 0`` per image: 0 train, 1 valid, 2 test.

    Each image is converted to grey levels, cropped to the central square face region (side
    148/178 of the width, centred 5/218 of the height below the middle: the usual
    ``(15, 40, 163, 188)`` box of the 178 x 218 images, scaled to the actual image size) and
    resized to ``size x size`` with an antialiasing filter.

    Parameters
    ----------
    path : str or path-like
        Folder holding the CelebA files.
    attributes : sequence of str, default=("Smiling", "Eyeglasses")
        Attribute names as in ``list_attr_celeba.txt``, matched case-insensitively;
        ``"glasses"`` is accepted for ``"Eyeglasses"`` (the names of :func:`make_faces`).
        Their order gives the columns of the returned attribute array.
    size : int, default=32
        Side of the returned square images, ``>= 2``.
    n : int, default=None
        Number of images to load: the first ``n`` of the selected partition, in the order
        of ``list_attr_celeba.txt``. All by default.
    binarize : bool or float, default=True
        ``True``: each image is thresholded at its own mean grey level (pixels brighter than
        the mean become 1), which is robust to the exposure of the photograph. A float in
        ``(0, 1)``: a fixed threshold on grey levels in ``[0, 1]``. ``False``: grey levels
        in ``[0, 1]``.
    partition : {None, "train", "valid", "test"} or {0, 1, 2}, default=None
        Keep only one partition of ``list_eval_partition.txt`` (required then). ``None``
        keeps every image.

    Returns
    -------
    X : ndarray of shape (n_images, size * size), dtype float64
        Images flattened row by row, in ``{0, 1}`` or ``[0, 1]`` (``binarize=False``).
    A : ndarray of shape (n_images, n_attributes), dtype int64
        Attributes in ``{0, 1}`` (CelebA's -1 becomes 0).

    Raises
    ------
    FileNotFoundError
        When the attribute file, the image folder, an image, or the partition file (with
        ``partition`` set) is missing.
    ImportError
        When Pillow is not installed (``pip install pillow``).

    Examples
    --------
    >>> from skrbm.datasets import load_celeba
    >>> X, A = load_celeba("/data/celeba", n=1000, partition="train")  # doctest: +SKIP
    >>> X.shape, A.shape  # doctest: +SKIP
    ((1000, 1024), (1000, 2))
    """
    path = os.fspath(path)
    size = _check_int(size, "size", 2)
    if n is not None:
        n = _check_int(n, "n", 1)
    attributes = _check_attributes(attributes, None)
    if isinstance(binarize, (bool, np.bool_)):
        threshold = None
    elif isinstance(binarize, numbers.Real) and 0.0 < binarize < 1.0:
        threshold = float(binarize)
    else:
        raise ValueError(f"binarize must be True, False or a float in (0, 1), got {binarize!r}.")
    if partition is not None:
        if isinstance(partition, str) and partition.lower() in _PARTITIONS:
            part_code = _PARTITIONS[partition.lower()]
        elif isinstance(partition, numbers.Integral) and partition in (0, 1, 2):
            part_code = int(partition)
        else:
            raise ValueError(
                f"partition must be None, 'train', 'valid', 'test', 0, 1 or 2, got {partition!r}."
            )
    if not os.path.isdir(path):
        raise FileNotFoundError(f"CelebA folder {path!r} does not exist.")

    roots = [path, os.path.join(path, "celeba")]
    attr_file = _find_first(
        [os.path.join(r, s, "list_attr_celeba.txt") for r in roots for s in ("", "Anno")],
        "attribute file list_attr_celeba.txt",
        path,
    )
    img_dir = _find_first(
        [
            os.path.join(r, *s)
            for r in roots
            for s in (
                ("img_align_celeba", "img_align_celeba"),
                ("img_align_celeba",),
                ("Img", "img_align_celeba"),
            )
        ],
        "image folder img_align_celeba",
        path,
    )

    files, names, values = _read_attr_file(attr_file)
    lookup = {name.lower(): j for j, name in enumerate(names)}
    cols = []
    for a in attributes:
        key = _CELEBA_ALIASES.get(a.lower(), a).lower()
        if key not in lookup:
            raise ValueError(f"Unknown CelebA attribute {a!r}; the file has {names!r}.")
        cols.append(lookup[key])

    keep = np.arange(len(files))
    if partition is not None:
        part_file = _find_first(
            [os.path.join(r, s, "list_eval_partition.txt") for r in roots for s in ("", "Eval")],
            "partition file list_eval_partition.txt (needed with partition=...)",
            path,
        )
        part = _read_partition_file(part_file)
        missing = [f for f in files if f not in part]
        if missing:
            raise ValueError(f"{part_file} has no partition for {missing[:3]!r}...")
        keep = np.array([i for i, f in enumerate(files) if part[f] == part_code], dtype=int)
    if n is not None:
        keep = keep[:n]

    Image = _import_pil()
    X = np.empty((len(keep), size * size), dtype=np.float64)
    for row, i in enumerate(keep):
        filename = os.path.join(img_dir, files[i])
        if not os.path.exists(filename):
            raise FileNotFoundError(f"CelebA image {filename!r} listed in {attr_file} is missing.")
        with Image.open(filename) as im:
            im = im.convert("L")
            w, h = im.size
            side = _CROP_SIDE * w
            box = (
                w / 2 - side / 2,
                _CROP_CY * h - side / 2,
                w / 2 + side / 2,
                _CROP_CY * h + side / 2,
            )
            im = im.resize((size, size), Image.Resampling.LANCZOS, box=box)
            X[row] = np.asarray(im, dtype=np.float64).ravel() / 255.0
    if threshold is None and binarize:
        X = (X > X.mean(axis=1, keepdims=True)).astype(np.float64)
    elif threshold is not None:
        X = (X > threshold).astype(np.float64)
    A = (values[keep][:, cols] > 0).astype(np.int64)
    return X, A
