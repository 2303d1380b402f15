"""What every entry point does with bad input: one line on stderr, exit status 2."""

import sys
from typing import NoReturn


def fail(message: str) -> NoReturn:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)
