"""One graph for preprocessing then trees, computed as scikit-learn computes it.

scikit-learn preprocesses in float64, then its tree code casts X to float32 (check_array with
dtype=DTYPE) and compares those float32 values against its split thresholds. A graph that
preprocesses in float32 rounds the raw input first and scales in float32, so a record whose
scaled value lies near a split falls on the other side (issue 23, case 10: 3 labels of 5,000
differed behind a StandardScaler). Here the preprocessing is converted with double inputs, one
Cast to float32 sits exactly where scikit-learn's trees cast, and the trees are converted with
float inputs; the two graphs are merged into one.
"""

from __future__ import annotations

from typing import Any

TREE_CLASSES = (
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
)
TREES_PREFIX = "trees_"
DOUBLE_OUTPUT = "preprocessed_float64"  # not skl2onnx's "variable", which a regressor outputs
CAST_OUTPUT = "preprocessed_float32"


def is_tree_model(est: Any) -> bool:
    """A scikit-learn tree or tree ensemble: it casts its input to float32 before comparing."""
    return type(est).__module__.startswith("sklearn.") and type(est).__name__ in TREE_CLASSES


def wants_double_preprocessing(pipeline: Any) -> bool:
    """Preprocessing steps, then a tree model: the case converted here."""
    steps = getattr(pipeline, "steps", None)
    return isinstance(steps, list) and len(steps) > 1 and is_tree_model(steps[-1][1])


def _cast_output(model: Any) -> str:
    """Append Cast(to=FLOAT) after the preprocessing graph's one output; its name."""
    from onnx import TensorProto, helper

    graph = model.graph
    if len(graph.output) != 1:
        raise ValueError(f"the preprocessing graph has {len(graph.output)} outputs, not 1")
    source = graph.output[0].name
    for node in graph.node:
        node.input[:] = [DOUBLE_OUTPUT if n == source else n for n in node.input]
        node.output[:] = [DOUBLE_OUTPUT if n == source else n for n in node.output]
    graph.node.append(
        helper.make_node(
            "Cast", [DOUBLE_OUTPUT], [CAST_OUTPUT], to=TensorProto.FLOAT, name="sklearn_tree_cast"
        )
    )
    width = graph.output[0].type.tensor_type.shape
    dims = [d.dim_value or d.dim_param or None for d in width.dim]
    graph.output.pop()
    graph.output.append(helper.make_tensor_value_info(CAST_OUTPUT, TensorProto.FLOAT, dims))
    return CAST_OUTPUT


def _restore_output_names(model: Any, names: list[str]) -> None:
    """The merged graph's outputs under the trees' own names (label, probabilities, variable)."""
    from onnx import helper

    graph = model.graph
    outputs = list(graph.output)
    del graph.output[:]
    for out, name in zip(outputs, names, strict=True):
        graph.node.append(helper.make_node("Identity", [out.name], [name], name=f"out_{name}"))
        renamed = type(out)()
        renamed.CopyFrom(out)
        renamed.name = name
        graph.output.append(renamed)


def convert_double_then_trees(
    pipeline: Any,
    initial_types: list,
    options: dict,
    target_opset: int | None,
) -> Any:
    """The merged ModelProto: preprocessing in double, Cast to float32, the trees in float."""
    from onnx import compose
    from skl2onnx import convert_sklearn, get_latest_tested_opset_version
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import Pipeline

    from mlayer.onnx.double_imputer import custom_converters

    target_opset = target_opset or get_latest_tested_opset_version()  # one for both halves
    preprocessing = Pipeline(pipeline.steps[:-1])
    trees = pipeline.steps[-1][1]
    pre = convert_sklearn(
        preprocessing,
        initial_types=initial_types,
        options={k: v for k, v in options.items() if k != id(trees)},
        target_opset=target_opset,
        name="mlayer_preprocessing",
        custom_conversion_functions=custom_converters(),
    )
    width = int(trees.n_features_in_)
    tree_options = {id(trees): options[id(trees)]} if id(trees) in options else None
    tree_model = convert_sklearn(
        trees,
        initial_types=[("features_float32", FloatTensorType([None, width]))],
        options=tree_options,
        target_opset=target_opset,
        name="mlayer_trees",
    )
    cast = _cast_output(pre)
    tree_model = compose.add_prefix(tree_model, TREES_PREFIX)
    _align_opsets(pre, tree_model)
    names = [o.name[len(TREES_PREFIX) :] for o in tree_model.graph.output]
    merged = compose.merge_models(
        pre,
        tree_model,
        io_map=[(cast, tree_model.graph.input[0].name)],
        name="mlayer",
        producer_name="mlayer",
    )
    _restore_output_names(merged, names)
    return merged


def double_graph_or_none(
    pipeline: Any, initial_types: list, options: dict, target_opset: int | None
) -> Any:
    """The double graph, or None when a preprocessing converter or onnxruntime cannot take
    doubles (an ai.onnx.ml operator with float32 kernels only): the caller then converts in
    float32 as before, and the parity gate judges that graph."""
    import onnxruntime as ort

    try:
        model = convert_double_then_trees(pipeline, initial_types, options, target_opset)
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - any failure means: not this way
        return None
    return model


def _align_opsets(a: Any, b: Any) -> None:
    """merge_models needs one version per domain: each side takes the higher of the two."""
    versions: dict[str, int] = {}
    for model in (a, b):
        for entry in model.opset_import:
            versions[entry.domain] = max(versions.get(entry.domain, 0), int(entry.version))
    for model in (a, b):
        present = {e.domain for e in model.opset_import}
        for entry in model.opset_import:
            entry.version = versions[entry.domain]
        for domain, version in versions.items():
            if domain not in present:
                added = model.opset_import.add()
                added.domain, added.version = domain, version
    ir = max(a.ir_version, b.ir_version)
    a.ir_version = b.ir_version = ir
