"""Path checks shared by every entry point (standard library only: the Melting Pot
installer uses them before the project's dependencies are installed)."""

from __future__ import annotations

import os
import tempfile
from typing import Optional


def writable_dir_reason(path: str) -> Optional[str]:
  """None if `path` is, or can be created as, a directory this process can write in.

  Checked by really creating (and removing) a directory in the nearest existing
  ancestor: a permission check alone is wrong for root and for /proc-like mounts.
  """
  if not str(path).strip():
    return "empty path"
  path = os.path.abspath(os.path.expanduser(path))
  if os.path.exists(path) and not os.path.isdir(path):
    return "exists and is not a directory"
  ancestor = path
  while not os.path.exists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    return f"{ancestor} is not a directory"
  try:
    os.rmdir(tempfile.mkdtemp(prefix=".recip_acme_probe_", dir=ancestor))
  except OSError as e:
    return f"cannot create a directory in {ancestor} ({e.strerror or type(e).__name__})"
  return None
