"""mitmproxy entry script for a checkout: `mitmdump -s addon/fcc.py`.

Thin on purpose: mitmproxy re-imports this file whenever it changes, so all
state lives in the `fcc` package next to it. The installed package carries its
own twin, fcc/mitm/entry_script.py, which `fcc run` and `fcc web` load.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from fcc.mitm.addon import FccAddon  # noqa: E402

addons = [FccAddon()]
