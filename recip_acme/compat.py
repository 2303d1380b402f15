"""The two workarounds that make dm-acme 0.4.0 run on Python 3.11's stack.

Every stack workaround of the project lives here, is applied once on
``import recip_acme``, checks that it is still needed before it patches anything,
and has a test in ``tests/test_compat.py`` that fails without it.

1. ``launchpad_stop_handlers``: ``acme/utils/signals.py`` imports Launchpad at module
   level for ``register_stop_handler``/``unregister_stop_handler`` only, and every
   ``import acme`` reaches it. dm-launchpad has no Python 3.11 build. In local
   (single-process) mode nothing ever asks a program to stop, so registering a stop
   handler may be a no-op. We give ``acme.utils.signals`` (and only it) a two-function
   stand-in while it is imported, then remove the stand-in from ``sys.modules`` so that
   no other code mistakes it for Launchpad. A real Launchpad is never shadowed.

2. ``reverb_trajectory_writer_timeout``: Acme 0.4.0's ``ReverbAdder._writer`` calls
   ``client.trajectory_writer(num_keep_alive_refs=..., get_signature_timeout_ms=...)``;
   Reverb 0.11+ removed that keyword (the signature is no longer fetched eagerly).
   We let ``reverb.Client.trajectory_writer`` accept and ignore it, which is what
   Acme's own later releases did by dropping the argument.

3. ``acme_builder_interface``: ``acme.agents.jax.builders`` (the builder interface our
   ReciprocatorBuilder implements) imports ``acme.jax.networks`` only to annotate
   ``random_key: networks_lib.PRNGKey``. That package needs Haiku and JAX APIs that
   the JAX Melting Pot requires no longer has (``jax.xla``, ``jnp.DeviceArray``).
   We import the interface against a stand-in holding ``PRNGKey`` alone, then
   remove the stand-in, so ``acme.jax.networks`` itself stays as importable (or
   not) as it really is.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
import types
from typing import Any, Callable

_LAUNCHPAD = "launchpad"
_STUB_MARKER = "__recip_acme_stand_in__"
_TIMEOUT_KWARG = "get_signature_timeout_ms"

# Names of the workarounds that were applied in this process (for logs and tests).
applied: list[str] = []


def _launchpad_stand_in() -> types.ModuleType:
  """A module with Launchpad's two stop-handler functions, as no-ops."""
  module = types.ModuleType(_LAUNCHPAD, "recip_acme stand-in: local mode only.")

  def register_stop_handler(handler: Callable[[], Any]) -> None:
    del handler  # Nothing stops a local program from outside.

  def unregister_stop_handler(handler: Callable[[], Any]) -> None:
    del handler

  module.register_stop_handler = register_stop_handler
  module.unregister_stop_handler = unregister_stop_handler
  setattr(module, _STUB_MARKER, True)
  return module


def launchpad_needed() -> bool:
  """True when Launchpad cannot be imported and Acme's signals module is not loaded."""
  return ("acme.utils.signals" not in sys.modules
          and importlib.util.find_spec(_LAUNCHPAD) is None)


def patch_launchpad_stop_handlers() -> bool:
  """Imports ``acme.utils.signals`` against a stand-in Launchpad when none exists."""
  if not launchpad_needed():
    return False
  sys.modules[_LAUNCHPAD] = _launchpad_stand_in()
  try:
    importlib.import_module("acme.utils.signals")
  finally:
    if getattr(sys.modules.get(_LAUNCHPAD), _STUB_MARKER, False):
      del sys.modules[_LAUNCHPAD]
  applied.append("launchpad_stop_handlers")
  return True


def reverb_timeout_kwarg_needed() -> bool:
  """True when Reverb's trajectory_writer rejects the keyword Acme 0.4.0 passes."""
  import reverb  # pylint: disable=g-import-not-at-top
  params = inspect.signature(reverb.Client.trajectory_writer,
                             follow_wrapped=False).parameters
  return _TIMEOUT_KWARG not in params and not any(
      p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def patch_reverb_trajectory_writer_timeout() -> bool:
  """Lets ``reverb.Client.trajectory_writer`` accept (and ignore) the timeout kwarg."""
  if not reverb_timeout_kwarg_needed():
    return False
  import reverb  # pylint: disable=g-import-not-at-top
  original = reverb.Client.trajectory_writer

  @functools.wraps(original)
  def trajectory_writer(self, num_keep_alive_refs: int, *args,
                        get_signature_timeout_ms: int | None = None, **kwargs):
    del get_signature_timeout_ms  # Reverb >= 0.11 fetches no signature up front.
    return original(self, num_keep_alive_refs, *args, **kwargs)

  reverb.Client.trajectory_writer = trajectory_writer
  applied.append("reverb_trajectory_writer_timeout")
  return True


_JAX_NETWORKS = "acme.jax.networks"
_BUILDERS = "acme.agents.jax.builders"


def _forget(prefix: str) -> None:
  for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
    del sys.modules[name]


def acme_jax_networks_broken() -> bool:
  """True when ``acme.jax.networks`` cannot be imported on this stack."""
  if _BUILDERS in sys.modules:
    return False
  try:
    importlib.import_module(_JAX_NETWORKS)
    return False
  except (ImportError, AttributeError):
    _forget(_JAX_NETWORKS)   # Drop the half-imported package and what it pulled in.
    _forget("acme.jax.utils")
    return True


def patch_acme_builder_interface() -> bool:
  """Imports Acme's builder interface against a stand-in ``acme.jax.networks``."""
  if not acme_jax_networks_broken():
    return False
  stand_in = types.ModuleType(_JAX_NETWORKS, "recip_acme stand-in: PRNGKey only.")
  stand_in.PRNGKey = Any
  setattr(stand_in, _STUB_MARKER, True)
  sys.modules[_JAX_NETWORKS] = stand_in
  try:
    importlib.import_module(_BUILDERS)
  finally:
    if getattr(sys.modules.get(_JAX_NETWORKS), _STUB_MARKER, False):
      del sys.modules[_JAX_NETWORKS]
  applied.append("acme_builder_interface")
  return True


def apply() -> list[str]:
  """Applies every workaround that is still needed; returns the names applied now."""
  before = len(applied)
  patch_launchpad_stop_handlers()
  patch_reverb_trajectory_writer_timeout()
  patch_acme_builder_interface()
  return applied[before:]
