"""Shared test set-up: quiet TensorFlow, import recip_acme (applies the stack workarounds)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import recip_acme  # noqa: E402,F401  (applies recip_acme.compat before any test imports acme)
