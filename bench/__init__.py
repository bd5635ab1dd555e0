"""Benchmarks that need Pulumi (the sandbox never imports it): program scale under mocks."""
