"""One read: the bytes publish-model hashes are the bytes it scans, loads and publishes.

A file replaced after it was judged (a race, or a hostile build step) is never what ships: the
layer zip and the S3 upload take the bytes read once, whose sha256 the manifest records.
"""

from __future__ import annotations

import hashlib
import zipfile

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

from mlayer.model.artifacts import inspect_pipeline
from mlayer.model.layer_content import sklearn_content
from mlayer.model.packaging import write_zip


def test_a_file_replaced_after_judging_is_not_what_ships(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(rng.random((40, 3)), np.array([0, 1] * 20)), path)
    judged = path.read_bytes()
    pipeline = inspect_pipeline(path, input_kind="features")
    path.write_bytes(b"\x80\x04N.")  # swapped once judged
    (artifact,) = pipeline.artifacts
    assert pipeline.blobs == (judged,)
    assert artifact.sha256 == hashlib.sha256(judged).hexdigest() and artifact.size == len(judged)
    content = sklearn_content(pipeline)
    info = write_zip(tmp_path / "layer.zip", list(content.files))
    with zipfile.ZipFile(info.path) as zf:
        assert zf.read(f"mlayer/{artifact.file}") == judged
    (copy,) = pipeline.judged(tmp_path)  # what an S3 upload reads
    assert copy != path and copy.read_bytes() == judged
    assert pipeline.outputs["classes"] == [0, 1] and pipeline.n_features == 3
