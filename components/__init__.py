"""wasmCloud lattice on NATS: spec, plan, credentials, renderer, and Pulumi components.

The pure core (``spec``, ``plan``, ``credentials``, ``natsconf``, ``outputs``) imports no
Pulumi, so the local sandbox and the tests use it directly.
"""
