"""House rule: AWS-shaped data only in mlayer/gateway/ (and mlayer/local/, the emulated AWS).

No other module reads an AWS response key or spells a boto3 keyword: the gateway answers frozen
views and takes typed arguments (mlayer/gateway/views.py). What counts as AWS's is told by
botocore's own model of the services mlayer calls: every member of an operation's input or
output shape (recursively). A module breaks the rule with a string of those names used as a
subscript (``x["LayerVersionArn"]``), a ``.get("Layers")``, a keyword argument
(``Layers=...``) or a dict key (``{"MemorySize": ...}``).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import botocore.session

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("lambda", "s3", "iam", "sts", "sqs", "sns", "cloudwatch", "kinesis")
AWS_SIDE = ("mlayer/gateway/", "mlayer/local/")

# Names of another format that botocore's shapes also use, where that format is the module's job.
NOT_AWS = {
    # The IAM policy language: documents mlayer writes, prints (`mlayer policy`) and evaluates.
    "mlayer/policy/": {"Version", "Statement", "Sid", "Effect", "Action", "Resource"},
    "mlayer/build/tree.py": {"Name", "Version"},  # an installed wheel's METADATA headers
}

# Not converted yet: each line goes when its module takes the gateway's views. Shrink it only.
NOT_YET: set[str] = set()  # empty: every module outside gateway/ and local/ takes typed values


@functools.cache
def aws_names() -> frozenset[str]:
    """Every member name (capitalized) of the input and output shapes of SERVICES."""
    session = botocore.session.get_session()
    names: set[str] = set()
    for service in SERVICES:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            op = model.operation_model(operation)
            stack, seen = [op.input_shape, op.output_shape], set()
            while stack:
                shape = stack.pop()
                if shape is None or shape.name in seen:
                    continue
                seen.add(shape.name)
                if shape.type_name == "structure":
                    names.update(shape.members)
                    stack.extend(shape.members.values())
                elif shape.type_name == "list":
                    stack.append(shape.member)
                elif shape.type_name == "map":
                    stack.append(shape.value)
    return frozenset(n for n in names if n[:1].isupper())


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def aws_names_used(source: str) -> list[tuple[int, str]]:
    """(line, name) of every AWS name used as a key or keyword in ``source``."""
    names = aws_names()
    found: list[tuple[int, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript):
            found.append((node.lineno, _string(node.slice)))
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
                found.append((node.lineno, _string(node.args[0])))
            found += [(node.lineno, kw.arg) for kw in node.keywords]
        elif isinstance(node, ast.Dict):
            found += [(node.lineno, _string(key)) for key in node.keys]
    return sorted((line, name) for line, name in found if name in names)


def _exempt(path: str) -> set[str]:
    return set().union(*(keys for prefix, keys in NOT_AWS.items() if path.startswith(prefix)))


def offences() -> dict[str, list[tuple[int, str]]]:
    out = {}
    for file in sorted((REPO / "mlayer").rglob("*.py")):
        path = file.relative_to(REPO).as_posix()
        if path.startswith(AWS_SIDE):
            continue
        used = [(line, n) for line, n in aws_names_used(file.read_text()) if n not in _exempt(path)]
        if used:
            out[path] = used
    return out


def test_aws_shaped_data_stays_in_the_gateway():
    found = offences()
    assert {p: used for p, used in found.items() if p not in NOT_YET} == {}


def test_the_allowlist_only_shrinks():
    """A module that no longer breaks the rule leaves the list (and one that is gone)."""
    found = offences()
    assert sorted(p for p in NOT_YET if p not in found) == []


def test_the_rule_sees_keys_keywords_and_dict_keys():
    source = (
        'arn = answer["LayerVersionArn"]\n'
        'layers = config.get("Layers")\n'
        "gw.call('lambda', 'x', 'y', MemorySize=512)\n"
        'params = {"EphemeralStorage": {"Size": 1024}}\n'
        'fine = row["model_version"], doc.get("artifacts"), f(size=1)\n'
    )
    assert aws_names_used(source) == [
        (1, "LayerVersionArn"),
        (2, "Layers"),
        (3, "MemorySize"),
        (4, "EphemeralStorage"),
        (4, "Size"),
    ]
