"""NATS subjects as allow-lists and streams use them: whether two overlap, and the forms of
a subject that names its site with ``{spoke}`` (a site's own: ``for_site``, which the
hub-stream agent applies, so it lives in its file; every site's: ``as_stream_subject``)."""

from __future__ import annotations

from lattice.jetstream_sync import for_site
from lattice.spec import SPOKE_TOKEN

__all__ = ["as_stream_subject", "for_site", "overlap"]


def overlap(a: str, b: str) -> bool:
    """Whether some literal subject matches both (``*`` one token, a final ``>`` one or more):
    JetStream refuses two streams of one account whose subjects overlap."""
    left, right = a.split("."), b.split(".")
    for i in range(max(len(left), len(right))):
        if i >= len(left) or i >= len(right):
            return False  # one has no token left for the other's next one (even a '>')
        x, y = left[i], right[i]
        if ">" in (x, y):
            return True
        if x != y and "*" not in (x, y):
            return False
    return True


def as_stream_subject(subject: str) -> str:
    """The subject a hub stream takes for every site's: ``{spoke}`` becomes ``*``."""
    return ".".join("*" if part == SPOKE_TOKEN else part for part in subject.split("."))
