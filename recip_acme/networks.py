"""Policy networks for Melting Pot players: conv torso -> MLP -> LSTM -> head.

Sized for 11x11 downsampled RGB on a CPU (the throughput floor in the stack notes
used conv 16 -> MLP 64 -> LSTM 64). The head is the base learner's business:
IMPALA needs (logits, value), R2D2 needs Q-values.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import sonnet as snt
import tensorflow as tf
from acme.tf import networks as acme_networks


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
  conv_channels: Sequence[int] = (16,)
  conv_kernel: int = 3
  mlp_sizes: Sequence[int] = (64,)
  lstm_size: int = 64


class VisualTorso(snt.Module):
  """uint8 image [B, H, W, C] -> features [B, D]."""

  def __init__(self, config: NetworkConfig, name: str = "visual_torso"):
    super().__init__(name=name)
    self._convs = [snt.Conv2D(c, config.conv_kernel, padding="SAME") for c in config.conv_channels]
    self._mlp = snt.nets.MLP(list(config.mlp_sizes), activate_final=True)

  def __call__(self, images: tf.Tensor) -> tf.Tensor:
    x = tf.cast(images, tf.float32) / 255.0
    for conv in self._convs:
      x = tf.nn.relu(conv(x))
    return self._mlp(snt.Flatten()(x))


def make_impala_network(num_actions: int, config: NetworkConfig) -> snt.RNNCore:
  """Outputs ((logits, value), state), what acme's TF IMPALA learner unrolls."""
  return snt.DeepRNN([VisualTorso(config), snt.LSTM(config.lstm_size),
                      acme_networks.PolicyValueHead(num_actions)])


def make_r2d2_network(num_actions: int, config: NetworkConfig) -> snt.RNNCore:
  """Outputs (q_values, state), what acme's TF R2D2 learner unrolls."""
  return snt.DeepRNN([VisualTorso(config), snt.LSTM(config.lstm_size),
                      snt.nets.MLP([config.lstm_size, num_actions])])
