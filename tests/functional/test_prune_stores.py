"""prune with S3-stored models (objects shared between versions) and with --deps, through the
CLI on the embedded AWS."""

from __future__ import annotations

import pytest
from prune_support import assert_everything_resolves, listing
from publish_support import (
    BUCKET,
    DEPS,
    FUNCTION,
    MODEL,
    create_function,
    publish,
    publish_deps,
    run_cli,
    train_text_pipeline,
)

from mlayer.gateway import code_sha256_to_hex
from mlayer.publishing import model_store
from mlayer.publishing.store import ArtifactStore


@pytest.fixture(scope="session")
def four_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("prune-store-models")
    return [train_text_pipeline(root / f"m{i}", variant=i) for i in range(4)]


def test_s3_objects_a_kept_version_shares_stay_and_the_others_go(gw, four_models):
    create_function(gw, [publish_deps(gw)])
    for paths in four_models:
        result, doc = publish(paths, "--store", "s3", "--alias", "live")
        assert result.exit_code == 0, result.output
    before = listing(gw)
    # the vectorizer and tfidf are the same files in every version: one object each, shared
    shared = {k[1] for k in before if k[1].startswith("models/")}
    assert len(shared) == 2 + 4
    result, doc = run_cli("prune", "--keep", "1", "--older-than", "0", "--yes")
    assert result.exit_code == 0, result.output
    after = listing(gw)
    gone_models = {k[1] for k in set(before) - set(after) if k[1].startswith("models/")}
    assert len(gone_models) == 2  # the two pruned versions' own estimators
    kept_shared = [i for i in doc["plan"]["kept"] if i["kind"] == "object"]
    assert {r["code"] for i in kept_shared for r in i["reasons"]} == {"shared"}
    assert len({i["name"] for i in kept_shared}) == 2  # the vectorizer and the tfidf
    store = ArtifactStore(gw, BUCKET)
    for row in run_cli("history")[1]["versions"]:  # every remaining version still starts
        manifest = store.manifest(store.layer_sha(row["layer_version_arn"]))
        assert model_store.missing_objects(gw, model_store.placement(manifest)) == []
    assert doc["outcome"]["bytes_freed"] == sum(v for k, v in before.items() if k not in after)
    assert_everything_resolves(gw)


def test_deps_prunes_the_dependencies_layer_versions_nothing_carries(gw, four_models):
    old_deps = publish_deps(gw)
    create_function(gw, [old_deps])
    assert publish(four_models[0], "--alias", "live")[0].exit_code == 0
    new_deps = publish_deps(gw, unzipped=121_000_000)
    layers = [ly["Arn"] for ly in gw.get_function_configuration(FUNCTION)["Layers"]]
    gw.update_function_configuration(FUNCTION, Layers=[new_deps, layers[-1]])
    assert publish(four_models[1], "--alias", "live")[0].exit_code == 0
    old_sha = code_sha256_to_hex(gw.get_layer_version(DEPS, 1)["Content"]["CodeSha256"])
    before = listing(gw)
    without = run_cli("prune", "--keep", "1", "--older-than", "0", "--yes")[1]
    assert without["plan"]["goes"]["deps_layer_versions"] == []
    assert ("deps_layer_version", f"{DEPS}:1") in listing(gw)
    result, doc = run_cli("prune", "--deps", "--keep", "1", "--older-than", "0", "--yes")
    assert result.exit_code == 0, result.output
    assert [i["name"] for i in doc["plan"]["goes"]["deps_layer_versions"]] == [f"{DEPS}:1"]
    after = listing(gw)
    gone = set(before) - set(after)
    assert ("deps_layer_version", f"{DEPS}:1") in gone
    assert {("object", f"layers/{old_sha}.zip"), ("object", f"layers/{old_sha}.lock.json")} <= gone
    assert ("deps_layer_version", f"{DEPS}:2") in after
    kept = {i["name"]: {r["code"] for r in i["reasons"]} for i in doc["plan"]["kept"]}
    assert "latest" in kept[f"{DEPS}:2"]
    assert ("function_version", "1") in gone  # the version that carried the old deps
    assert "previous" in kept[f"{MODEL}:1"]  # its model stays: `rollback --previous` needs it
    assert_everything_resolves(gw)


def test_an_absent_function_is_refused_and_a_bare_one_has_nothing_to_prune(gw):
    result, doc = run_cli("prune", "--function", "nope", "--yes")
    assert result.exit_code == 1 and doc["error"] == "NotFoundError"
    assert "nope" in doc["message"] and "--function" in doc["hint"]
    create_function(gw, [publish_deps(gw)])
    result, doc = run_cli("prune", "--keep", "1", "--older-than", "0", "--deps", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["plan"]["bytes_freed"] == 0 and doc["outcome"] is None
    assert [i["reasons"][0]["code"] for i in doc["plan"]["kept"]] == ["latest"]


def test_objects_another_function_of_the_account_needs_stay(gw, four_models):
    """Two functions share the default bucket; their versions share content-addressed objects
    (the same S3-stored artifacts, the same dependencies zip)."""
    deps = publish_deps(gw)
    create_function(gw, [deps])
    deps_sha = code_sha256_to_hex(gw.get_layer_version(DEPS, 1)["Content"]["CodeSha256"])
    other_deps = gw.publish_layer_version(
        "b-deps", "deps sklearn 1.7.2", s3=(BUCKET, f"layers/{deps_sha}.zip")
    )["LayerVersionArn"]
    create_function(gw, [other_deps], name="b-fn")
    common = ("--store", "s3")
    b = ("--function", "b-fn", "--layer-name", "b-model")
    assert publish(four_models[0], *common, *b)[0].exit_code == 0
    for paths in four_models[:3]:
        assert publish(paths, *common, "--alias", "live")[0].exit_code == 0
    gw.update_function_configuration(
        FUNCTION,
        Layers=[
            publish_deps(gw, unzipped=1),
            *[ly["Arn"] for ly in gw.get_function_configuration(FUNCTION)["Layers"][1:]],
        ],
    )
    assert publish(four_models[3], *common, "--alias", "live")[0].exit_code == 0
    result, doc = run_cli("prune", "--deps", "--keep", "1", "--older-than", "0", "--yes")
    assert result.exit_code == 0, result.output
    assert f"{MODEL}:1" in {i["name"] for i in doc["plan"]["goes"]["model_layer_versions"]}
    assert f"{DEPS}:1" in {i["name"] for i in doc["plan"]["goes"]["deps_layer_versions"]}
    held = {
        i["name"]: i["reasons"][0]["text"] for i in doc["plan"]["kept"] if i["kind"] == "object"
    }
    assert held[f"layers/{deps_sha}.zip"] == "b-deps:1 needs it"
    assert gw.object_size(BUCKET, f"layers/{deps_sha}.lock.json")
    store = ArtifactStore(gw, BUCKET)
    b_version = gw.get_layer_version("b-model", 1)
    manifest = store.manifest(code_sha256_to_hex(b_version["Content"]["CodeSha256"]))
    place = model_store.placement(manifest)
    assert len(place.s3_objects) == 3
    assert model_store.missing_objects(gw, place) == []
    assert {o["key"] for o in place.s3_objects} <= set(held)
