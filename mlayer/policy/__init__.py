"""Least-privilege IAM from the configuration (pure): the function's role and the deployer's.

arns.py              the ARNs of the configured resources
document.py          statements -> a deterministic policy document
function_policy.py   the function's execution role policy
deployer_policy.py   what a person or CI needs to run every mlayer command
evaluate.py          does a set of policy documents allow an action on a resource
"""

from __future__ import annotations

from mlayer.policy.arns import Arns
from mlayer.policy.deployer_policy import deployer_policy, role_arn, role_name
from mlayer.policy.document import to_json
from mlayer.policy.function_policy import function_policy

__all__ = ["Arns", "deployer_policy", "function_policy", "role_arn", "role_name", "to_json"]
