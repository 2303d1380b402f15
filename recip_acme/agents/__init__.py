"""Agents: standard Acme TF learners as builders (impala, r2d2) and the Reciprocator
wrapper that adds the reciprocal reward to whichever of them it wraps."""
