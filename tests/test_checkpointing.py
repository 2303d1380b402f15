"""The TF-free checkpoint lookup agrees with TensorFlow's on real checkpoints."""

import os

import tensorflow as tf

from recip_acme.experiments import checkpointing


def test_latest_checkpoint_agrees_with_tensorflow(tmp_path):
  workdir = str(tmp_path)
  assert checkpointing.latest_checkpoint(workdir) is None          # No folder yet.
  assert not checkpointing.has_checkpoint(workdir)
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)),
                                       checkpointing.checkpoint_dir(workdir), max_to_keep=2)
  for _ in range(3):
    manager.save()
  expected = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir))
  assert expected.endswith("ckpt-3")
  assert checkpointing.latest_checkpoint(workdir) == expected
  assert checkpointing.has_checkpoint(workdir)
  # A save killed before its index was written does not count, for TF nor for us.
  os.remove(expected + ".index")
  assert tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir)) is None
  assert checkpointing.latest_checkpoint(workdir) is None
