"""Offline, framework-neutral evaluator for ganbench runs (see workflow/ganbench/metrics/README.md)."""
