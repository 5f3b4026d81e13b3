"""mitmproxy entry script shipped inside the package: what `fcc run` and `fcc web` pass to `-s`.

From a checkout, `mitmdump -s addon/fcc.py` is the same thing. Thin on purpose: mitmproxy re-executes
this file whenever it changes, so all state lives in the `fcc` package, imported once per process.
"""

import os
import sys

# The directory holding the `fcc` package: site-packages when installed, addon/ in a checkout.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from fcc.mitm.addon import FccAddon  # noqa: E402

addons = [FccAddon()]
