"""Claim definitions, one module per topic; the registry reads ``CLAIM_MODULES``."""

from sigprop.claims import engine, forward, gradients, mlp

CLAIM_MODULES = (engine, gradients, forward, mlp)
