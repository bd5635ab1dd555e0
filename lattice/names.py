"""Names the clouds see, fitted to their limits: deterministic, and distinct by a short hash.

A lattice name and a hub or spoke name may each be 40 characters, so a child's name
(``<lattice>-<spoke>-role``) can pass what an API accepts: 32 characters for a load
balancer, 63 for a Kubernetes namespace or label value, 64 for an IAM role. A name that
fits is kept as it is; a longer one keeps its start and ends in a hash of the whole name,
so two long names never meet and the same stack always gives the same name.
"""

from __future__ import annotations

import hashlib

from lattice import provider_rules

HASH_CHARS = 6


def fit(name: str, limit: int) -> str:
    """``name`` if it has at most ``limit`` characters, else its start, ``-`` and a hash of
    the whole of it, ``limit`` characters in all (never ending in ``-``)."""
    if len(name) <= limit:
        return name
    if limit < HASH_CHARS + 2:
        raise ValueError(f"cannot fit {name!r} into {limit} characters")
    digest = hashlib.sha256(name.encode()).hexdigest()[:HASH_CHARS]
    head = name[: limit - HASH_CHARS - 1].rstrip("-.")
    return f"{head}-{digest}"


def auto_named(name: str, provider_type: str, limit: int) -> str:
    """A logical resource name for a provider that names the resource ``<name>-<random>``
    (:func:`lattice.provider_rules.auto_naming`): fitted so the physical name stays within
    ``limit`` (the API's limit for that name)."""
    naming = provider_rules.auto_naming(provider_type)
    if naming is None:
        raise ValueError(f"{provider_type} is not auto-named")
    return fit(name, limit - len(naming.separator) - naming.random_length)


# --- Kubernetes -------------------------------------------------------------------------------


def namespace(lattice: str, group: str) -> str:
    """A hub's or spoke's default namespace, ``<lattice>-<name>`` (a DNS-1123 label)."""
    return fit(f"{lattice}-{group}", provider_rules.K8S_LABEL_MAX)


def instance_label(lattice: str, group: str) -> str:
    """The ``app.kubernetes.io/instance`` label value (at most 63 characters)."""
    return fit(f"{lattice}-{group}", provider_rules.K8S_LABEL_MAX)


def service(name: str) -> str:
    """A Service name: a DNS-1035 label, so a name that starts with a digit (``7-eleven``)
    gets a letter in front (``n7-eleven``)."""
    return fit(name if name[:1].isalpha() else f"n{name}", provider_rules.K8S_LABEL_MAX)
