"""The Melting Pot install: user archive used, bounded download, offline fallback."""

import http.server
import os
import subprocess
import sys
import tarfile
import threading
import time

import pytest

from launch import setup_meltingpot as setup_mp

UNREACHABLE = "http://127.0.0.1:9/meltingpot-assets-2.3.0.tar.gz"  # Nothing listens.


def _fake_assets_archive(path) -> str:
  """A tiny archive shaped like the official one, with one fake bot."""
  root = path / "src"
  bot = root / "assets" / "saved_models" / "fake_substrate" / "fake_bot"
  bot.mkdir(parents=True)
  (bot / "saved_model.pb").write_bytes(b"not a real model")
  archive = path / "user-assets.tar.gz"
  with tarfile.open(archive, "w:gz") as tar:
    tar.add(root / "assets", arcname="assets")
  return str(archive)


def test_user_archive_is_validated_and_used(tmp_path):
  archive = _fake_assets_archive(tmp_path)
  staged = setup_mp.stage_assets(str(tmp_path / "stage"), user_archive=archive,
                                 url=UNREACHABLE)
  assert staged.kind == "user"
  assert os.path.basename(staged.path) == "meltingpot-assets-2.3.0.tar.gz"
  with open(staged.path, "rb") as a, open(archive, "rb") as b:
    assert a.read() == b.read()


@pytest.mark.parametrize("content", [None, b"garbage", "no-assets-folder"])
def test_bad_user_archive_is_one_clear_error(tmp_path, content):
  path = tmp_path / "bad.tar.gz"
  if content == "no-assets-folder":
    (tmp_path / "x.txt").write_text("x")
    with tarfile.open(path, "w:gz") as tar:
      tar.add(tmp_path / "x.txt", arcname="x.txt")
  elif content is not None:
    path.write_bytes(content)
  with pytest.raises(ValueError) as e:
    setup_mp.stage_assets(str(tmp_path / "stage"), user_archive=str(path))
  message = str(e.value)
  assert "\n" not in message and "MELTINGPOT_ASSETS" in message


def test_unreachable_host_stages_empty_assets_with_clear_message(tmp_path):
  staged = setup_mp.stage_assets(str(tmp_path), url=UNREACHABLE, timeout_s=5)
  assert staged.kind == "empty"
  with tarfile.open(staged.path) as tar:
    assert sorted(tar.getnames()) == ["assets", "assets/saved_models"]
  assert "substrates work" in staged.message and "make assets" in staged.message
  assert "\n" not in staged.message


class _TrickleHandler(http.server.BaseHTTPRequestHandler):
  """Answers, then sends one byte every 0.2 s: a download that never finishes."""

  def do_GET(self):  # noqa: N802
    self.send_response(200)
    self.send_header("Content-Length", str(10**9))
    self.end_headers()
    try:
      for _ in range(10_000):
        self.wfile.write(b"x")
        self.wfile.flush()
        time.sleep(0.2)
    except (BrokenPipeError, ConnectionResetError):
      pass

  def log_message(self, *args):
    pass


def test_a_stalled_download_is_bounded(tmp_path):
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TrickleHandler)
  server.daemon_threads = True
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    url = f"http://127.0.0.1:{server.server_address[1]}/assets.tar.gz"
    start = time.monotonic()
    staged = setup_mp.stage_assets(str(tmp_path), url=url, timeout_s=2)
    assert time.monotonic() - start < 10
    assert staged.kind == "empty"
    assert not os.path.exists(staged.path + ".part")
  finally:
    server.shutdown()


@pytest.fixture(scope="module")
def meltingpot_sdist(tmp_path_factory):
  """dm-meltingpot's source distribution, fetched once from the package registry."""
  out = tmp_path_factory.mktemp("sdist")
  subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                  "--no-binary", ":all:", "-d", str(out),
                  f"dm-meltingpot=={setup_mp.MELTINGPOT_VERSION}"], check=True)
  (sdist,) = list(out.iterdir())
  return str(sdist)


def _install(tmp_path, sdist, *extra):
  target = tmp_path / "site"
  result = subprocess.run(
      [sys.executable, setup_mp.__file__, "--pip", os.path.join(os.path.dirname(sys.executable), "pip"),
       "--url", UNREACHABLE, "--timeout", "5", "--requirement", sdist,
       "--target", str(target), *extra],
      capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-2000:]
  return target, result.stdout


def test_install_with_user_archive_ships_its_bots(tmp_path, meltingpot_sdist):
  archive = _fake_assets_archive(tmp_path)
  target, out = _install(tmp_path, meltingpot_sdist, "--archive", archive)
  assert "using bot assets from" in out
  bot = target / "meltingpot" / "assets" / "saved_models" / "fake_substrate" / "fake_bot"
  assert (bot / "saved_model.pb").read_bytes() == b"not a real model"


def test_offline_install_completes_and_scenarios_fail_clearly(tmp_path, meltingpot_sdist):
  target, out = _install(tmp_path, meltingpot_sdist)
  assert "installing without them" in out
  assert (target / "meltingpot" / "substrate.py").exists()
  # That install, first on the path: substrates build, scenarios fail in one line.
  code = (
      "import recip_acme, meltingpot, sys\n"
      f"assert meltingpot.__file__.startswith({str(target)!r}), meltingpot.__file__\n"
      "from substrates import assets\n"
      "from meltingpot import substrate\n"
      "substrate.build('coins', roles=['default'] * 2).close()\n"
      "try:\n"
      "  assets.build_official_scenario('coins_0')\n"
      "except assets.MissingBotAssetsError as e:\n"
      "  print('MESSAGE:', e)\n")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(target),
                                   TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  (line,) = [l for l in result.stdout.splitlines() if l.startswith("MESSAGE:")]
  assert "bot assets missing for coins_0" in line and "make assets" in line
