"""Installs dm-meltingpot without letting its build hang on an unreachable host.

Why this exists: dm-meltingpot is a source distribution whose ``build_py`` step
downloads an archive of background-bot SavedModels with ``urllib`` and no timeout.
Before downloading, the build looks for ``<tempdir>/meltingpot-assets-<ver>.tar.gz``
(``tempfile.gettempdir()``, so ``TMPDIR`` decides). We therefore always stage an
archive in a private directory, point ``TMPDIR`` at it and only then run pip:

1. a user-supplied archive (``--archive`` or ``$MELTINGPOT_ASSETS``) is validated
   and used, so users with the real assets get the official scenarios;
2. otherwise we try the normal download ourselves, bounded in time;
3. when that fails we stage an archive holding an empty ``assets/saved_models/``:
   substrates work, official scenarios need the bots (``substrates.assets`` says so
   in one line when they are missing).

This file runs before the project's dependencies are installed, so it uses only the
standard library and argparse (not absl); run it as ``python -m launch.setup_meltingpot``. It is the only place that knows about the archive.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from launch import paths
import urllib.request

MELTINGPOT_VERSION = "2.4.1"
ASSETS_VERSION = "2.3.0"
ARCHIVE_NAME = f"meltingpot-assets-{ASSETS_VERSION}.tar.gz"
ASSETS_URL = f"https://storage.googleapis.com/dm-meltingpot/{ARCHIVE_NAME}"
ENV_VAR = "MELTINGPOT_ASSETS"
HOW_TO_ADD = (f"to add the bots later: make assets {ENV_VAR}=/path/to/{ARCHIVE_NAME}")


@dataclasses.dataclass(frozen=True)
class StagedAssets:
  """Where the archive for the Melting Pot build was staged and where it came from."""
  kind: str  # "user", "downloaded" or "empty".
  path: str
  message: str


def validate_archive(path: str) -> None:
  """Raises ValueError (one line) unless `path` is a tar archive with an assets/ tree."""
  if not os.path.isfile(path):
    raise ValueError(f"{ENV_VAR}={path}: no such file; expected {ARCHIVE_NAME}")
  try:
    with tarfile.open(path, mode="r:*") as tar:
      names = tar.getnames()
  except (tarfile.TarError, OSError) as e:
    reason = " ".join(str(e).split())  # Some tarfile errors span several lines.
    raise ValueError(f"{ENV_VAR}={path}: not a readable tar archive ({reason})") from e
  if not any(n == "assets" or n.startswith(("assets/", "./assets/")) for n in names):
    raise ValueError(
        f"{ENV_VAR}={path}: archive has no top-level assets/ folder; expected the "
        f"official {ARCHIVE_NAME}")


def make_empty_archive(dest: str) -> None:
  """Writes a tar.gz holding only the folders assets/ and assets/saved_models/."""
  with tarfile.open(dest, mode="w:gz") as tar:
    for name in ("assets", "assets/saved_models"):
      info = tarfile.TarInfo(name)
      info.type = tarfile.DIRTYPE
      info.mode = 0o755
      info.mtime = int(time.time())
      tar.addfile(info)


def download(url: str, dest: str, timeout_s: float) -> None:
  """Downloads `url` to `dest`, giving up (OSError) after `timeout_s` seconds overall."""
  deadline = time.monotonic() + timeout_s
  part = dest + ".part"
  try:
    with urllib.request.urlopen(url, timeout=min(timeout_s, 15.0)) as response, \
        open(part, "wb") as out:
      while True:
        if time.monotonic() > deadline:
          raise OSError(f"download exceeded {timeout_s:.0f}s")
        chunk = response.read1(1 << 20)  # Whatever has arrived: read() would wait for all of it.
        if not chunk:
          break
        out.write(chunk)
    os.replace(part, dest)
  finally:
    if os.path.exists(part):
      os.remove(part)


def stage_assets(staging_dir: str,
                 user_archive: str | None = None,
                 url: str = ASSETS_URL,
                 timeout_s: float = 600.0) -> StagedAssets:
  """Puts an asset archive at `staging_dir/ARCHIVE_NAME`, never blocking for long."""
  os.makedirs(staging_dir, exist_ok=True)
  dest = os.path.join(staging_dir, ARCHIVE_NAME)
  if user_archive:
    validate_archive(user_archive)
    shutil.copyfile(user_archive, dest)
    return StagedAssets("user", dest, f"Melting Pot: using bot assets from {user_archive}")
  try:
    download(url, dest, timeout_s)
    validate_archive(dest)
    return StagedAssets("downloaded", dest, f"Melting Pot: downloaded bot assets from {url}")
  except (OSError, ValueError) as e:
    reason = str(getattr(e, "reason", e)).splitlines()[0]
    make_empty_archive(dest)
    return StagedAssets(
        "empty", dest,
        f"Melting Pot: bot assets unreachable ({reason}); installing without them: "
        f"substrates work, official scenarios need the bots; {HOW_TO_ADD}")


def install(pip: str, staging_dir: str,
            requirement: str = f"dm-meltingpot=={MELTINGPOT_VERSION}",
            target: str | None = None) -> None:
  """Builds and installs dm-meltingpot with TMPDIR pointing at the staged archive.

  --no-cache-dir: a wheel built without the bots must never be reused later when the
  user supplies the real archive. --no-deps: the lock file installs the dependencies.
  `target` installs into a plain folder instead of the environment (used by tests).
  """
  env = dict(os.environ, TMPDIR=staging_dir)
  cmd = [pip, "install", "--no-deps", "--no-cache-dir", "--force-reinstall",
         "--quiet", requirement]
  if target:
    cmd += ["--target", target]
  subprocess.run(cmd, env=env, check=True)


class _OneLineParser(argparse.ArgumentParser):
  """argparse that reports a bad argument in one line (no usage block), exit 2."""

  def error(self, message):
    self.exit(2, f"error: {message}\n")


def _positive_seconds(text: str) -> float:
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"--timeout={text}: not a number; allowed: a finite "
                                     "number of seconds > 0") from None
  if not (value > 0 and value != float("inf")):
    raise argparse.ArgumentTypeError(f"--timeout={text}: allowed: a finite number of "
                                     "seconds > 0")
  return value


def _existing_file(flag: str):
  def check(text: str) -> str:
    if not text or not os.path.isfile(os.path.expanduser(text)):
      raise argparse.ArgumentTypeError(f"{flag}={text}: no such file; allowed: an "
                                       "existing file")
    return text
  return check


def _non_empty(flag: str):
  def check(text: str) -> str:
    if not text.strip():
      raise argparse.ArgumentTypeError(f"{flag} is empty; allowed: a non-empty value")
    return text
  return check


def _target_dir(text: str) -> str:
  reason = paths.writable_dir_reason(text)
  if reason:
    raise argparse.ArgumentTypeError(f"--target={text}: {reason}; allowed: a directory that "
                                     "exists or can be created, and is writable")
  return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
  """The arguments, each checked: a bad one is one line on stderr and exit status 2."""
  parser = _OneLineParser(description=__doc__.splitlines()[0])
  parser.add_argument("--pip", required=True, type=_existing_file("--pip"),
                      help="pip of the target environment")
  parser.add_argument("--archive", default=os.environ.get(ENV_VAR) or None,
                      type=_existing_file("--archive"),
                      help=f"path to {ARCHIVE_NAME} (default: ${ENV_VAR})")
  parser.add_argument("--url", default=ASSETS_URL, type=_non_empty("--url"))
  parser.add_argument("--timeout", type=_positive_seconds, default=600.0,
                      help="seconds allowed for the asset download")
  parser.add_argument("--requirement", default=f"dm-meltingpot=={MELTINGPOT_VERSION}",
                      type=_non_empty("--requirement"),
                      help="what pip installs (a version pin or a local sdist)")
  parser.add_argument("--target", default=None, type=_target_dir,
                      help="install into this folder instead")
  return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
  args = parse_args(argv)
  with tempfile.TemporaryDirectory(prefix="recip_acme_mp_") as staging_dir:
    try:
      staged = stage_assets(staging_dir, args.archive, args.url, args.timeout)
    except ValueError as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
    print(staged.message, flush=True)
    install(args.pip, staging_dir, args.requirement, args.target)
  return 0


if __name__ == "__main__":
  sys.exit(main())
