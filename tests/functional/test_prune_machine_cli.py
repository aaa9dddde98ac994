"""A short hypothesis state machine on the embedded AWS, through the CLI: publish / rollback /
set a canary weight / prune in any order; afterwards every alias, its canary, $LATEST and every
remaining version resolve, and `rollback --previous` still works whenever an older version
exists. (tests/unit/test_prune_machine.py runs the long machine on the pure plan.)"""

from __future__ import annotations

import urllib.request

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from prune_support import assert_everything_resolves
from publish_support import (
    FUNCTION,
    MODEL,
    create_function,
    publish,
    publish_deps,
    run_cli,
    train_text_pipeline,
)


@pytest.fixture(scope="session")
def pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("prune-machine-models")
    return [train_text_pipeline(root / f"m{i}", variant=i) for i in range(8)]


def test_any_sequence_leaves_everything_resolvable(gw, aws, pool):
    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            urllib.request.urlopen(
                urllib.request.Request(f"{aws.endpoint_url}/moto-api/reset", method="POST")
            ).read()
            create_function(gw, [publish_deps(gw)])
            self.next = 0
            self.publish_one()

        def publish_one(self) -> None:
            result, _ = publish(pool[self.next % len(pool)], "--alias", "live")
            assert result.exit_code == 0, result.output
            self.next += 1

        def models(self) -> list[int]:
            return [r["version"] for r in run_cli("history")[1]["versions"]]

        @rule()
        def publish(self):
            self.publish_one()

        @rule(data=st.data())
        def rollback(self, data):
            target = data.draw(st.sampled_from(sorted(self.models())))
            result, _ = run_cli("rollback", "--version", str(target), "--alias", "live", "--yes")
            assert result.exit_code == 0, result.output

        @rule(weight=st.sampled_from([0.1, 0.25]), data=st.data())
        def set_weight(self, weight, data):
            lam = gw.client("lambda")
            primary = lam.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"]
            versions = [
                v["Version"]
                for v in lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"]
                if v["Version"] not in ("$LATEST", primary)
            ]
            if versions:
                other = data.draw(st.sampled_from(versions))
                lam.update_alias(
                    FunctionName=FUNCTION,
                    Name="live",
                    FunctionVersion=primary,
                    RoutingConfig={"AdditionalVersionWeights": {other: weight}},
                )

        @rule(keep=st.integers(1, 3))
        def prune(self, keep):
            before = sorted(self.models())
            result, doc = run_cli("prune", "--keep", str(keep), "--older-than", "0", "--yes")
            assert result.exit_code == 0, result.output
            after = set(self.models())
            assert set(before[-keep:]) <= after
            gone = {i["version"] for i in doc["plan"]["goes"]["model_layer_versions"]}
            assert after == set(before) - gone

        @precondition(lambda self: self.next > 1)
        @rule()
        def previous(self):
            live = int(gw.get_function_configuration(FUNCTION)["Layers"][-1]["Arn"].split(":")[-1])
            older = [v for v in self.models() if v < live]
            result, doc = run_cli("rollback", "--previous", "--dry-run")
            assert (result.exit_code == 0) == bool(older), result.output
            if older:
                assert doc["to_version"] == max(older)

        @invariant()
        def resolves(self):
            assert_everything_resolves(gw)
            layers = gw.get_function_configuration(FUNCTION)["Layers"]
            assert any(f":layer:{MODEL}:" in ly["Arn"] for ly in layers)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=3,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
