"""Another account's layer on a function, which the embedded AWS cannot hold.

moto 5.2.5 resolves a function's layers by name in the caller's own account (and rewrites the
ARN to that account's), so a function there cannot carry AWS's Lambda Insights layer. AWS can.
``ForeignLayer`` plays that part of AWS on the wire, with botocore's own events on the session:
requests that set a function's layers reach moto without the foreign ARN (its place is kept),
and every configuration read back (the function, its versions, publish and update answers) has
it again at its place. Everything else is moto's.
"""

from __future__ import annotations

from typing import Any

INSIGHTS = "arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:38"
INSIGHTS_ZIPPED = 5_213_004  # what AWS reports as that layer's CodeSize (zipped)


class ForeignLayer:
    def __init__(self, function: str, arn: str = INSIGHTS, position: int | None = 0) -> None:
        self.function = function
        self.arn = arn
        self.position = position  # None: the function does not carry it (now)
        self.sent: list[list[str]] = []  # every Layers list mlayer sent, foreign ARN included

    def install(self, events: Any) -> None:
        for op in ("UpdateFunctionConfiguration", "CreateFunction"):
            events.register(f"before-parameter-build.lambda.{op}", self._strip)
        for op in (
            "GetFunctionConfiguration",
            "UpdateFunctionConfiguration",
            "CreateFunction",
            "PublishVersion",
        ):
            events.register(f"after-call.lambda.{op}", self._add_to_config)
        events.register("after-call.lambda.ListVersionsByFunction", self._add_to_versions)
        events.register("after-call.lambda.GetFunction", self._add_to_function)

    def _mine(self, name: str | None) -> bool:
        return name == self.function

    def _strip(self, params: dict, **_: Any) -> None:
        if not self._mine(params.get("FunctionName")) or "Layers" not in params:
            return
        layers = list(params["Layers"])
        self.sent.append(layers)
        self.position = layers.index(self.arn) if self.arn in layers else None
        params["Layers"] = [a for a in layers if a != self.arn]

    def _add(self, config: dict) -> None:
        if self.position is None or not self._mine(config.get("FunctionName")):
            return
        layers = [ly for ly in config.get("Layers") or [] if ly["Arn"] != self.arn]
        layers.insert(self.position, {"Arn": self.arn, "CodeSize": INSIGHTS_ZIPPED})
        config["Layers"] = layers

    def _add_to_config(self, parsed: dict, **_: Any) -> None:
        if "FunctionName" in parsed:
            self._add(parsed)

    def _add_to_versions(self, parsed: dict, **_: Any) -> None:
        for version in parsed.get("Versions") or []:
            self._add(version)

    def _add_to_function(self, parsed: dict, **_: Any) -> None:
        if "Configuration" in parsed:
            self._add(parsed["Configuration"])
