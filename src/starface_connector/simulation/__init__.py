"""A simulated STARFACE for development, tests, demos and benchmarks; not part of the product.

* :class:`SimulatedPbx` (``state``, data from ``datagen``): a PBX in memory.
* :func:`create_simulator_app` (``http``, with ``control`` and ``render``): its REST API,
  as the official specification describes it, with injected faults and latency.
* :class:`EventPusher` (``transport``, events from ``traffic`` and ``wire``): the STARFACE
  module, pushing the PBX's events to a connector's ``/starface/v1`` contract.
"""

from .clock import Clock, SystemClock
from .control import SimulatorControl
from .http import FAULT_HEADER, create_simulator_app
from .records import ADMIN_PERMISSION
from .state import SimulatedPbx
from .transport import EventPusher, PushError

__all__ = [
    "ADMIN_PERMISSION",
    "FAULT_HEADER",
    "Clock",
    "EventPusher",
    "PushError",
    "SimulatedPbx",
    "SimulatorControl",
    "SystemClock",
    "create_simulator_app",
]
