"""lectures_utils: the helpers that the notebooks of the course share.

Modules by topic (each has a docstring saying what it is for):

- ``device``: the compute device, seeding, DataLoader defaults;
- ``training``: a readable training loop with a per-epoch history;
- ``plotting``: the book's figure style, image grids, mask overlays, three-plane views, curves;
- ``data``: the offline data sets (real DICOM, NIfTI, ECG, tables);
- ``phantoms``: synthetic scans with label masks from configurable "scanners";
- chapter modules added by the chapters that introduce them.

Public names are re-exported here, so ``from lectures_utils import get_device, fit`` works.
"""

from .device import *  # noqa: F401,F403
from .training import *  # noqa: F401,F403
from .plotting import *  # noqa: F401,F403
from .reporting import *  # noqa: F401,F403
# Chapter and data modules: add one `from .module import *` line per module below, keep the order.
from .data import *  # noqa: F401,F403
from .preprocessing import *  # noqa: F401,F403
from .phantoms import *  # noqa: F401,F403
from .gp import *  # noqa: F401,F403
from .activations import *  # noqa: F401,F403
from .autodiff import *  # noqa: F401,F403
from .nn_numpy import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .calibration import *  # noqa: F401,F403
# >>> chapter 4
from .cnn import *  # noqa: F401,F403
# <<< chapter 4
# >>> chapter 5
from .sequences import *  # noqa: F401,F403
# <<< chapter 5
# >>> chapter 7
from .rl import *  # noqa: F401,F403
from .transfer import *  # noqa: F401,F403
# <<< chapter 7

__version__ = "0.1.0"
