"""recip_acme: Reciprocators (Zhou, Hong & Kao, NeurIPS 2024) for Acme and Melting Pot.

Importing the package applies the stack workarounds in `recip_acme.compat` (Acme
0.4.0 on Python 3.11 without Launchpad, and on Reverb 0.14), so that `import acme`
works afterwards. Nothing else is imported eagerly: TensorFlow loads on first use.
"""

import os as _os

# TensorFlow's C++ start-up chatter (cuDNN/TensorRT on a CPU machine) hides real errors.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from recip_acme import compat as _compat  # pylint: disable=g-import-not-at-top

_compat.apply()

__version__ = "0.1.0"
