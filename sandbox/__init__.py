"""The local runner: a whole stack's topology on loopback, with real servers.

Uses the same spec, plan, credentials and renderer as the Pulumi program; only addresses
differ. Never imports Pulumi.
"""
