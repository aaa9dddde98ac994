"""What the read-only views (history.py, status.py) and rollback read alike of the live
function: its layers' ARNs, the room its code and other layers leave the model layer, and
which layers are the caller's own.

Shared here so the views agree: a layer counted as "other" by status is counted so by history.
"""

from __future__ import annotations

from mlayer.arns import LayerVersionArn, layer_name
from mlayer.errors import NotFoundError
from mlayer.gateway import Gateway
from mlayer.gateway.views import FunctionConfig
from mlayer.publishing.store import ArtifactStore
from mlayer.runtimes import MAX_UNZIPPED_BYTES


def live_arns(gw: Gateway, function: str, qualifier: str | None = None) -> tuple[str, ...]:
    """The layer ARNs of the function (or of one alias/version of it); () when it is absent."""
    try:
        return gw.function_config(function, qualifier).layer_arns
    except NotFoundError:
        return ()


def model_room(
    store: ArtifactStore, config: FunctionConfig, model_layer: str
) -> tuple[int, tuple[str, ...]]:
    """Bytes of Lambda's budget the function's code and its other layers leave the model layer,
    and the layers whose size cannot be read here (counted as 0)."""
    others = [a for a in config.layer_arns if layer_name(a) != model_layer]
    used = store.function_size_of(config).unzipped
    sizes = store.layer_sizes(others, {})
    used += sum(size.unzipped for size in sizes.values())
    return MAX_UNZIPPED_BYTES - used, tuple(a for a, size in sizes.items() if not size.known)


def own(parsed: LayerVersionArn, account: str | None) -> bool:
    """mlayer's layers are the caller's: another account's layer is "other" whatever its name."""
    return account is None or parsed.account == account
