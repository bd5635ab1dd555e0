"""The policy pack's entry point (`pulumi preview --policy-pack policy`): building the
PolicyPack starts its server, so it happens here only."""

import sys
from pathlib import Path

from pulumi_policy import PolicyPack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the pack runs from policy/
from policy.policies import policies

PolicyPack(name="wasmcloud-lattice", policies=policies())
