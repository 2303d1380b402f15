"""Each stack workaround in recip_acme.compat: still needed, applied, and harmless.

The "needed" tests run a fresh interpreter *without* importing recip_acme and check
that the stack is still broken there; if one starts failing, the upstream bug is gone
and the workaround can be deleted.
"""

import os
import subprocess
import sys
import textwrap


def _run(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
  return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                        capture_output=True, text=True, env=full_env, timeout=300)


def test_plain_acme_import_fails_without_launchpad():
  result = _run("import acme")
  assert result.returncode != 0
  assert "No module named 'launchpad'" in result.stderr


def test_acme_imports_with_workaround_and_stand_in_is_not_left_behind():
  result = _run("""
      import sys
      import recip_acme
      import acme
      from acme.utils import signals
      assert "launchpad" not in sys.modules, "stand-in leaked into sys.modules"
      assert "launchpad_stop_handlers" in recip_acme.compat.applied
      with signals.runtime_terminator():  # Local mode: registering is a no-op.
        pass
      try:
        import launchpad
      except ImportError:
        print("launchpad still absent")
      """)
  assert result.returncode == 0, result.stderr
  assert "launchpad still absent" in result.stdout


def test_real_launchpad_is_never_shadowed(tmp_path):
  package = tmp_path / "launchpad"
  package.mkdir()
  (package / "__init__.py").write_text(
      "REAL = True\n"
      "def register_stop_handler(h): pass\n"
      "def unregister_stop_handler(h): pass\n")
  result = _run("""
      import recip_acme
      from acme.utils import signals
      assert signals.launchpad.REAL
      assert "launchpad_stop_handlers" not in recip_acme.compat.applied
      print("ok")
      """, env={"PYTHONPATH": str(tmp_path)})
  assert result.returncode == 0, result.stderr
  assert "ok" in result.stdout


def _only_launchpad_stand_in() -> str:
  """Code that applies only the Launchpad workaround (so that Acme imports).

  Importing recip_acme.compat would run recip_acme/__init__, which applies all of
  them, so the module file is loaded on its own.
  """
  path = os.path.join(os.path.dirname(__file__), "..", "recip_acme", "compat.py")
  return ("import importlib.util\n"
          f"spec = importlib.util.spec_from_file_location('c', {path!r})\n"
          "c = importlib.util.module_from_spec(spec); spec.loader.exec_module(c)\n"
          "c.patch_launchpad_stop_handlers()\n")


_ADDER_CODE = """
import numpy as np, reverb, tensorflow as tf
{prelude}
from acme import specs
from acme.adders import reverb as adders
import dm_env
env_spec = specs.EnvironmentSpec(
    observations=specs.Array((2,), np.float32), actions=specs.DiscreteArray(3),
    rewards=specs.Array((), np.float32), discounts=specs.BoundedArray((), np.float32, 0., 1.))
table = reverb.Table.queue("priority_table", 10,
    signature=adders.SequenceAdder.signature(env_spec, sequence_length=2))
server = reverb.Server([table], port=None)
adder = adders.SequenceAdder(reverb.Client(f"localhost:{{server.port}}"),
                             sequence_length=2, period=2)
obs = np.zeros(2, np.float32)
adder.add_first(dm_env.restart(obs))
adder.add(np.int32(1), dm_env.transition(np.float32(1.0), obs, np.float32(1.0)))
adder.add(np.int32(2), dm_env.truncation(np.float32(1.0), obs, np.float32(1.0)))
print("items", server.localhost_client().server_info()["priority_table"].current_size)
"""


def test_acme_adder_fails_on_reverb_014_without_workaround():
  result = _run(_ADDER_CODE.format(prelude=_only_launchpad_stand_in()))
  assert result.returncode != 0
  assert "get_signature_timeout_ms" in result.stderr


def test_acme_adder_writes_to_reverb_014_with_workaround():
  result = _run(_ADDER_CODE.format(prelude="import recip_acme"))
  assert result.returncode == 0, result.stderr
  assert "items 2" in result.stdout  # Two length-2 sequences: steps 0-1 and the end-padded 2.


def test_workarounds_are_idempotent_and_check_before_patching():
  import reverb
  from recip_acme import compat
  writer_fn = reverb.Client.trajectory_writer
  assert compat.apply() == []  # Already applied on import: nothing more to do.
  assert reverb.Client.trajectory_writer is writer_fn
  assert not compat.launchpad_needed()
  assert not compat.reverb_timeout_kwarg_needed()


def test_acme_builder_interface_fails_without_workaround():
  result = _run(_only_launchpad_stand_in() + "from acme.agents.jax import builders\n")
  assert result.returncode != 0
  assert "haiku" in result.stderr or "jax" in result.stderr


def test_acme_builder_interface_with_workaround_leaves_no_stand_in():
  result = _run("""
      import sys
      import recip_acme
      from acme.agents.jax import builders
      assert "acme.jax.networks" not in sys.modules
      assert "acme_builder_interface" in recip_acme.compat.applied
      from recip_acme.agents.reciprocator import builder
      assert issubclass(builder.ReciprocatorBuilder, builders.GenericActorLearnerBuilder)
      print("ok")
      """)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "ok" in result.stdout
