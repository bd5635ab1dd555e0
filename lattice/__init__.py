"""The pure core of wasmcloud-lattice: spec, plan, addressing, credentials, the renderer.

Nothing here imports Pulumi, AWS or Kubernetes (a test walks every module's imports), so
the components, the local sandbox and the tests share one implementation of every fact.
"""
