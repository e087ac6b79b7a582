"""The distribution's version, in a module that imports nothing of the project.

Modules deep in the package (the Hub client, push, the release state, collection's provenance) record it; taking it
from the package root made each of them import ``vintix_data/__init__``, which imports loading and suite, which
import the hub: a loop through the root that held only while the root imported them lazily. pyproject.toml reads
the version from here too.
"""

__version__ = "0.1.0"
