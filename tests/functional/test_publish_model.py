"""publish-model through the CLI against the embedded AWS (moto's server over HTTP)."""

from __future__ import annotations

import pytest
from publish_support import (
    BUCKET,
    FUNCTION,
    MODEL,
    create_function,
    foreign_layer,
    live_model,
    publish,
    publish_args,
    publish_deps,
    run_cli,
    snapshot,
    train_text_pipeline,
)

from mlayer.gateway import code_sha256_to_hex
from mlayer.local import sandbox


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("publish-models")
    return {
        "v1": train_text_pipeline(root / "v1", variant=0),
        "v2": train_text_pipeline(root / "v2", variant=1),
        "v3": train_text_pipeline(root / "v3", variant=2),
        "old": train_text_pipeline(root / "old", variant=3, sklearn_version="1.5.2"),
    }


@pytest.fixture
def deployed(gw):
    deps = publish_deps(gw)
    create_function(gw, [deps])
    return deps


def test_publish_links_the_function_and_stores_zip_and_manifest(gw, deployed, models):
    result, doc = publish(models["v1"])
    assert result.exit_code == 0, result.output
    assert doc["version"] == 1 and doc["label"] == "v1" and not doc["reused"] and doc["published"]
    layers = [ly["Arn"] for ly in snapshot(gw)["Layers"]]
    assert layers == [deployed, doc["layer_version_arn"]]
    version = gw.get_layer_version(MODEL, 1)
    sha = code_sha256_to_hex(version["Content"]["CodeSha256"])
    assert (
        sha == doc["zip_sha256"]
    )  # moto's CodeSha256 of an S3-published layer is the zip's digest
    assert version["Description"] == f"v1 sha:{doc['content_sha256'][:12]}"
    manifest = gw.get_json(BUCKET, f"layers/{sha}.manifest.json")
    assert manifest["input_kind"] == "text"
    assert [a["role"] for a in manifest["artifacts"]] == ["preprocessor", "preprocessor", "model"]
    assert manifest["artifacts"][-1]["class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert manifest["outputs"] == {
        "predict": True,
        "predict_proba": True,
        "classes": ["ham", "spam"],
    }
    assert "sklearn.linear_model._logistic.LogisticRegression" in manifest["globals"]
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(gw.get_bytes(BUCKET, f"layers/{sha}.zip"))).namelist()
    assert names == [
        "mlayer/00-countvectorizer.joblib",
        "mlayer/01-tfidf.joblib",
        "mlayer/02-model.joblib",
        "mlayer/manifest.json",
    ]


def test_three_versions_then_idempotent_republish(gw, deployed, models):
    arns = []
    for key in ("v1", "v2", "v3"):
        result, doc = publish(models[key])
        assert result.exit_code == 0, result.output
        arns.append(doc["layer_version_arn"])
    assert [a.rsplit(":", 1)[1] for a in arns] == ["1", "2", "3"]
    assert live_model(gw) == arns[2]
    result, doc = publish(models["v2"])
    assert result.exit_code == 0, result.output
    assert doc["reused"] and not doc["published"] and doc["version"] == 2 and doc["label"] == "v2"
    assert len(gw.list_layer_versions(MODEL)) == 3
    assert live_model(gw) == arns[1]


def test_dry_run_changes_nothing(gw, deployed, models):
    before = snapshot(gw)
    result, doc = publish(models["v1"], "--dry-run")
    assert result.exit_code == 0, result.output
    assert doc["dry_run"] and not doc["published"]
    assert doc["plan"]["after"] == [deployed, doc["layer_version_arn"]]
    assert snapshot(gw) == before
    assert gw.list_layer_versions(MODEL) == []
    assert not [k for k in sandbox.list_keys(gw, BUCKET, "layers/") if k.endswith(".manifest.json")]


def test_foreign_layers_keep_their_order(gw, models):
    deps = publish_deps(gw)
    a, b = foreign_layer(gw, "tools-a"), foreign_layer(gw, "tools-b")
    create_function(gw, [a, deps, b])
    publish(models["v1"])
    _, doc = publish(models["v2"])
    assert [ly["Arn"] for ly in snapshot(gw)["Layers"]] == [a, deps, b, doc["layer_version_arn"]]


def test_a_sixth_layer_is_refused_and_nothing_changes(gw, models):
    deps = publish_deps(gw)
    create_function(gw, [deps] + [foreign_layer(gw, f"extra-{i}") for i in range(4)])
    before = snapshot(gw)
    result, doc = publish(models["v1"])
    assert result.exit_code == 1
    assert doc["error"] == "BudgetError" and "Lambda allows 5" in doc["message"]
    assert snapshot(gw) == before
    assert gw.list_layer_versions(MODEL) == []


def test_oversize_is_refused(gw, models):
    deps = publish_deps(gw, unzipped=262_143_000)
    create_function(gw, [deps])
    before = snapshot(gw)
    result, doc = publish(models["v1"])
    assert result.exit_code == 1 and doc["error"] == "BudgetError" and "unzipped" in doc["message"]
    assert snapshot(gw) == before


def test_incompatible_sklearn_pickle_is_refused_naming_both_versions(gw, deployed, models):
    before = snapshot(gw)
    result, doc = publish(models["old"])
    assert result.exit_code == 1
    assert doc["error"] == "ModelError"
    assert "1.5.2" in doc["message"] and "1.7.2" in doc["message"]
    assert snapshot(gw) == before
    assert gw.list_layer_versions(MODEL) == []


def test_allow_version_mismatch_publishes_and_warns(gw, deployed, models):
    result, doc = publish(models["old"], "--allow-version-mismatch")
    assert result.exit_code == 0, result.output
    assert any("1.5.2" in w for w in doc["warnings"])


def test_no_lock_at_all_is_refused_unless_allowed(gw, models):
    gw.ensure_bucket(BUCKET)
    create_function(gw, [])
    before = snapshot(gw)
    result, doc = publish(models["v1"])
    assert result.exit_code == 1 and "lock" in doc["message"]
    assert snapshot(gw) == before
    result, doc = publish(models["v1"], "--allow-version-mismatch")
    assert result.exit_code == 0, result.output
    assert any("NOT checked" in w for w in doc["warnings"])


def test_unknown_function_is_refused(gw, deployed, models):
    before = snapshot(gw)
    result, doc = publish(models["v1"], "--function", "no-such-function")
    assert result.exit_code == 1 and doc["error"] == "NotFoundError"
    assert "no-such-function" in doc["message"]
    assert snapshot(gw) == before
    assert gw.list_layer_versions(MODEL) == []


def test_no_link_publishes_only(gw, deployed, models):
    before = snapshot(gw)
    result, doc = publish(models["v1"], "--no-link")
    assert result.exit_code == 0, result.output
    assert doc["published"] and doc["plan"] is None
    assert snapshot(gw) == before


def test_main_module_reference_is_refused_with_the_code_fix(gw, deployed, tmp_path):
    (tmp_path / "bad.joblib").write_bytes(_main_pickle())
    before = snapshot(gw)
    result, doc = run_cli("publish-model", str(tmp_path / "bad.joblib"), "--yes")
    assert result.exit_code == 1 and doc["error"] == "UntrustedPickleError"
    assert "__main__" in doc["message"] and "--code" in doc["hint"]
    assert snapshot(gw) == before


def _main_pickle() -> bytes:
    """A pickle of an object whose class lives in __main__ (as a notebook's would): the opcodes
    PROTO 4, SHORT_BINUNICODE '__main__', 'MyScaler', STACK_GLOBAL, EMPTY_TUPLE, NEWOBJ, STOP."""
    return b"\x80\x04\x8c\x08__main__\x94\x8c\x08MyScaler\x94\x93\x94)\x81\x94."


def test_code_module_ships_under_python(gw, deployed, tmp_path, models):
    (tmp_path / "my_steps.py").write_text(
        "class Upper:\n    def fit(self, X, y=None):\n        return self\n"
        "    def transform(self, X):\n        return [x.upper() for x in X]\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        import joblib
        import my_steps

        joblib.dump(my_steps.Upper(), tmp_path / "upper.joblib")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_steps", None)
    result, doc = publish(models["v1"], before=[tmp_path / "upper.joblib"])
    assert result.exit_code == 1 and "my_steps" in doc["message"]
    result, doc = publish(
        models["v1"], "--code", str(tmp_path / "my_steps.py"), before=[tmp_path / "upper.joblib"]
    )
    assert result.exit_code == 0, result.output
    assert doc["manifest"]["code"][0]["file"] == "python/my_steps.py"
    assert "my_steps.Upper" in doc["manifest"]["globals"]


def test_not_a_model_is_refused(gw, deployed, models):
    result, doc = run_cli("publish-model", str(models["v1"]["tfidf"]), "--yes")
    assert result.exit_code == 1 and "predict" in doc["message"]


def test_alias_moves_to_a_published_version(gw, deployed, models):
    result, doc = publish(models["v1"], "--alias", "live")
    assert result.exit_code == 0, result.output
    alias = gw.get_alias(FUNCTION, "live")
    assert alias["FunctionVersion"] == doc["outcome"]["function_version"]
    layers = [ly["Arn"] for ly in gw.get_function_configuration(FUNCTION, "live")["Layers"]]
    assert doc["layer_version_arn"] in layers


def test_human_output_shows_the_plan(gw, deployed, models):
    from click.testing import CliRunner

    from mlayer.cli import cli

    result = CliRunner().invoke(cli, publish_args(models["v1"], "--dry-run"))
    assert result.exit_code == 0, result.output
    assert "(no model layer)" in result.output and "-> arn:aws:lambda:" in result.output
    assert "Dry run" in result.output


def test_without_yes_and_without_a_terminal_nothing_happens(gw, deployed, models):
    before = snapshot(gw)
    result, doc = run_cli(*publish_args(models["v1"]))
    assert result.exit_code == 2 and "--yes" in doc["hint"]
    assert snapshot(gw) == before
    assert gw.list_layer_versions(MODEL) == []


def _write_config(folder, **model):
    lines = ["[model]"]
    for key, value in model.items():
        if isinstance(value, list):
            lines.append(f"{key} = [" + ", ".join(f'"{v}"' for v in value) + "]")
        else:
            lines.append(f'{key} = "{value}"')
    (folder / "mlayer.toml").write_text("\n".join(lines) + "\n")


def test_model_artifacts_from_the_config_when_no_model_is_named(gw, deployed, models, tmp_path):
    import shutil

    for name in ("countvectorizer", "tfidf", "model"):
        shutil.copy(models["v1"][name], tmp_path / f"{name}.joblib")
    _write_config(
        tmp_path, artifacts=["countvectorizer.joblib", "tfidf.joblib", "model.joblib"], input="text"
    )
    result, doc = run_cli("publish-model", "--yes")
    assert result.exit_code == 0, result.output
    assert [a["role"] for a in doc["manifest"]["artifacts"]] == [
        "preprocessor",
        "preprocessor",
        "model",
    ]
    assert doc["manifest"]["artifacts"][0]["class"].endswith("CountVectorizer")
    assert doc["manifest"]["artifacts"][-1]["class"].endswith("LogisticRegression")
    assert doc["relinked"] and live_model(gw) == doc["layer_version_arn"]
    # the same files named on the command line are the same content: reused
    result, doc = publish(models["v1"])
    assert result.exit_code == 0 and doc["reused"] and doc["version"] == 1


def test_preprocessors_without_a_model_is_a_usage_error(gw, deployed, models):
    before = snapshot(gw)
    result, doc = run_cli("publish-model", "-p", str(models["v1"]["tfidf"]), "--yes")
    assert result.exit_code == 2 and doc["error"] == "UsageError" and doc["hint"]
    assert snapshot(gw) == before


def test_no_model_and_no_config_artifacts_is_a_usage_error(gw, deployed):
    result, doc = run_cli("publish-model", "--yes")
    assert result.exit_code == 2 and "[model] artifacts" in doc["hint"]
    assert "Error: " in result.stderr and "Hint: " in result.stderr


def test_alias_defaults_to_the_config_alias(gw, deployed, models, tmp_path):
    _write_config(tmp_path, alias="prod")
    result, doc = publish(models["v1"])
    assert result.exit_code == 0, result.output
    assert doc["alias"] == "prod" and doc["function_version"]
    assert gw.get_alias(FUNCTION, "prod")["FunctionVersion"] == doc["function_version"]
    layers = [ly["Arn"] for ly in gw.get_function_configuration(FUNCTION, "prod")["Layers"]]
    assert layers == [deployed, doc["layer_version_arn"]]
    # --no-link leaves the function and so the config's alias alone, without complaint
    moved = gw.get_alias(FUNCTION, "prod")
    result, doc = publish(models["v2"], "--no-link")
    assert result.exit_code == 0 and doc["alias"] is None and not doc["relinked"]
    assert gw.get_alias(FUNCTION, "prod")["FunctionVersion"] == moved["FunctionVersion"]


def test_alias_with_no_link_is_a_usage_error(gw, deployed, models):
    before = snapshot(gw)
    result, doc = publish(models["v1"], "--alias", "live", "--no-link")
    assert result.exit_code == 2 and "--no-link" in doc["message"]
    assert snapshot(gw) == before and gw.list_layer_versions(MODEL) == []
    assert gw.get_alias(FUNCTION, "live") is None


def test_dry_run_with_alias_changes_nothing(gw, deployed, models):
    publish(models["v1"], "--alias", "live")
    before, alias_before = snapshot(gw), gw.get_alias(FUNCTION, "live")
    versions_before = gw.list_layer_versions(MODEL)
    result, doc = publish(models["v2"], "--alias", "live", "--dry-run")
    assert result.exit_code == 0 and doc["dry_run"] and doc["alias"] == "live"
    assert doc["function_version"] is None and not doc["relinked"]
    assert snapshot(gw) == before
    assert gw.list_layer_versions(MODEL) == versions_before
    got = gw.get_alias(FUNCTION, "live")
    assert got["FunctionVersion"] == alias_before["FunctionVersion"]


PUBLISH_KEYS = {
    "function",
    "layer_name",
    "layer_version_arn",
    "version",
    "label",
    "content_sha256",
    "short_sha",
    "zip_sha256",
    "zipped_size",
    "unzipped_size",
    "reused",
    "published",
    "dry_run",
    "linked",
    "relinked",
    "plan",
    "alias",
    "function_version",
    "outcome",
    "lock_source",
    "warnings",
    "manifest",
    "store",
    "store_reason",
    "s3_objects",
    "ephemeral_storage",
    "format",
    "input_kind",
    "input_reason",
    "samples_kept",
    "parity",
}
PLAN_KEYS = {
    "function",
    "layer_name",
    "changed",
    "old_arn",
    "new_arn",
    "before",
    "after",
    "total_unzipped",
    "sizes_exact",
    "budget_left",
    "unknown_sizes",
}


def test_json_keys_are_the_documented_ones(gw, deployed, models):
    _, doc = publish(models["v1"], "--dry-run")
    assert set(doc) == PUBLISH_KEYS and set(doc["plan"]) == PLAN_KEYS
    _, doc = publish(models["v1"])
    assert set(doc) == PUBLISH_KEYS and doc["relinked"] and doc["function"] == FUNCTION
    assert doc["short_sha"] == doc["content_sha256"][:12]
    _, doc = publish(models["v1"])
    assert doc["reused"] and not doc["relinked"] and not doc["plan"]["changed"]


def test_the_lock_checked_is_the_function_deps_layer_not_a_newer_one(gw, models):
    """deps v1 (no lock: built elsewhere) on the function, deps v2 with a lock: v2 says nothing
    about what the function runs, so the model is refused as unchecked."""
    from publish_support import DEPS, fake_zip

    gw.ensure_bucket(BUCKET)
    unlocked = gw.publish_layer_version(DEPS, "hand-made", zip_bytes=fake_zip({"python/x": b"1"}))
    create_function(gw, [unlocked["LayerVersionArn"]])
    publish_deps(gw)
    before = snapshot(gw)
    result, doc = publish(models["v1"])
    assert (
        result.exit_code == 1
        and "lock" in doc["message"]
        and "--allow-version-mismatch" in doc["hint"]
    )
    assert snapshot(gw) == before and gw.list_layer_versions(MODEL) == []


def test_code_module_that_does_not_compile_is_refused_before_anything_is_published(
    gw, deployed, tmp_path, models
):
    (tmp_path / "broken_steps.py").write_text("def transform(X):\n    return [x for x in X\n")
    before = snapshot(gw)
    result, doc = publish(models["v1"], "--code", str(tmp_path / "broken_steps.py"))
    assert result.exit_code == 2 and doc["error"] == "UsageError"
    assert "broken_steps.py does not compile" in doc["message"] and "py_compile" in doc["hint"]
    assert gw.list_layer_versions(MODEL) == []
    assert snapshot(gw) == before
