"""Shared test set-up: quiet TensorFlow, import recip_acme (applies the stack workarounds)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import recip_acme  # noqa: E402,F401  (applies recip_acme.compat before any test imports acme)

import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

from recip_acme.experiments.make_distributed_experiment import RAY_ENVIRONMENT  # noqa: E402


def ray_processes(marker: str):
  """Live processes whose command line contains `marker` (a Ray session's temp dir
  names all its processes; Ray's actor processes are titled ray::ClassName)."""
  import psutil  # pylint: disable=g-import-not-at-top
  found = []
  for p in psutil.process_iter(["cmdline"]):
    try:
      if any(marker in part for part in (p.info["cmdline"] or [])):
        found.append(p)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
      continue
  return found


def process_alive(pid: int) -> bool:
  """Whether `pid` is a live process; a zombie (exited, not yet reaped) is not."""
  import psutil  # pylint: disable=g-import-not-at-top
  try:
    return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
  except psutil.NoSuchProcess:
    return False


@pytest.fixture
def ray_tmpdir(monkeypatch):
  """A Ray temp dir of this test's own (short: Ray's socket paths), Ray's environment
  set in this process and its children; afterwards, no Ray process may remain.

  After a SIGKILL of a driver, Ray's per-node agents notice the raylet is gone and
  exit within about a minute: they are waited for, not killed, so a process that
  never exits fails the test.
  """
  temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
  os.makedirs(os.path.join(temp_dir, "ray"), exist_ok=True)   # Ray's address file lives here.
  for key, value in {**RAY_ENVIRONMENT, "RAY_TMPDIR": temp_dir}.items():
    monkeypatch.setenv(key, value)
  yield temp_dir
  deadline = time.time() + 150
  while ray_processes(temp_dir) and time.time() < deadline:
    time.sleep(1)
  left = [(p.pid, " ".join(p.info["cmdline"] or [])[:80]) for p in ray_processes(temp_dir)]
  shutil.rmtree(temp_dir, ignore_errors=True)
  assert not left, f"Ray processes left behind: {left}"
