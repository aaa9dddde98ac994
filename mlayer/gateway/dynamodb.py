"""A DynamoDB table's items read back as plain rows: what the demo and the tests check the
function's DynamoDB sink wrote (mlayer itself writes a table only from the function).

DynamoDB's typed form ({"id": {"S": "a"}, "p": {"N": "0.5"}}) stays here: a row maps each
attribute to its value, numbers kept as the decimal text DynamoDB stores (exact, no float).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def plain(attribute: Mapping[str, Any]) -> Any:
    """One attribute value without its type: S and N as text, B as bytes (boto3 decodes them),
    BOOL, NULL as None, M a dict, L a list, SS/NS/BS a list of their members."""
    ((kind, value),) = attribute.items()
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: plain(v) for k, v in value.items()}
    if kind == "L":
        return [plain(v) for v in value]
    return list(value) if kind in ("SS", "NS", "BS") else value


def scan_rows(gw: Any, table: str) -> list[dict[str, Any]]:
    """Every item of ``table`` as a row (attribute name -> plain value)."""
    items = gw.paginate("dynamodb", "scan", "Items", f"Reading table {table}", TableName=table)
    return [{name: plain(value) for name, value in item.items()} for item in items]
