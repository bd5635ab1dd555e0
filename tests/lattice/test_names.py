"""Names fitted to the clouds' limits: kept when they fit, else shortened, deterministic and distinct."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from lattice import names, provider_rules
from lattice.spec import NAME_PATTERN

LONGEST = "a" * 39 + "z"
"""The longest name the spec accepts (40 characters)."""


def test_a_name_that_fits_is_kept() -> None:
    assert names.fit("acme-use1-leaf", 24) == "acme-use1-leaf"
    assert names.fit("x" * 24, 24) == "x" * 24


@pytest.mark.parametrize("limit", [8, 24, 56, 63])
def test_a_long_name_is_cut_to_the_limit_and_ends_in_a_hash(limit: int) -> None:
    long = f"{LONGEST}-{LONGEST}-leaf"
    fitted = names.fit(long, limit)
    assert len(fitted) == limit
    assert fitted == names.fit(long, limit), "the same stack always gives the same name"
    assert not fitted.startswith("-") and not fitted.endswith("-")
    assert provider_rules.dns1123_label(fitted) == []


def test_long_names_that_share_their_start_stay_distinct() -> None:
    stems = [f"{LONGEST}-{LONGEST}-{i}" for i in range(200)]
    fitted = {names.fit(f"{s}-role", 56) for s in stems}
    assert len(fitted) == len(stems)


def test_auto_named_leaves_room_for_the_providers_random_suffix() -> None:
    name = names.auto_named(f"{LONGEST}-{LONGEST}-leaf", "aws:lb/loadBalancer:LoadBalancer", 32)
    physical = provider_rules.auto_name("aws:lb/loadBalancer:LoadBalancer", name)
    assert len(physical) == 32 and provider_rules.elb_name(physical) == []
    assert provider_rules.pulumi_auto_name_length("aws:lb/targetGroup:TargetGroup", name) == []
    role = names.auto_named(f"{LONGEST}-{LONGEST}-4-role", "aws:iam/role:Role", 64)
    assert provider_rules.iam_role_name(provider_rules.auto_name("aws:iam/role:Role", role)) == []


def test_kubernetes_names_are_valid_for_every_name_the_spec_accepts() -> None:
    samples = ["a", "7", "7-eleven", LONGEST, "9" + "a" * 39]
    assert all(NAME_PATTERN.match(s) for s in samples)
    for lattice, group in itertools.product(samples, samples):
        assert provider_rules.k8s_namespace_name(names.namespace(lattice, group)) == []
        assert provider_rules.k8s_label_value(names.instance_label(lattice, group)) == []
    for group in samples:
        for service in (group, f"{group}-leaf", f"{group}-4-gateway"):
            assert provider_rules.k8s_service_name(names.service(service)) == [], service


def test_a_service_name_starting_with_a_digit_gets_a_letter() -> None:
    assert names.service("7-eleven-leaf") == "n7-eleven-leaf"
    assert names.service("use1-leaf") == "use1-leaf"


@pytest.mark.parametrize(
    ("quantity", "value"),
    [
        ("1Gi", 2**30),
        ("512Mi", 512 * 2**20),
        ("500m", Decimal("0.5")),
        ("2", 2),
        ("1.5G", 1_500_000_000),
        ("1e3", 1000),
    ],
)
def test_quantities_read_as_apimachinery_reads_them(quantity: str, value: Decimal | int) -> None:
    assert provider_rules.quantity_value(quantity) == value


def test_a_bad_quantity_is_refused_with_the_rules_words() -> None:
    with pytest.raises(ValueError, match="is not a quantity"):
        provider_rules.quantity_value("1GB")
