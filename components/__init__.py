"""The Pulumi component resources other programs import: ``Lattice``, ``LatticeKeys``,
``LatticeCA``, ``HubCluster``, ``EdgeSpoke`` and the package faces in ``package``.

They wire the pure core (:mod:`lattice`) to resources; what each platform builds is in
:mod:`components.platforms`, behind one contract.
"""
