"""Claim definitions, one module per topic; the registry reads ``CLAIM_MODULES``."""

from sigprop.claims import engine

CLAIM_MODULES = (engine,)
