"""logwarden: the whole-file configuration shared by the shipper, the alerter and logq.

``logwarden.config.load_config`` reads logwarden.yaml into one ``Config``: the store's section
(from ``logstore.config``) next to each program's own (``shipper.config``, ``alerter.config``).
It lives outside the store library so that the library never imports the programs.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    # One version for the three programs: the installed distribution's (pyproject.toml).
    __version__ = version("logwarden")
except PackageNotFoundError:  # run from a source tree that was never pip-installed
    __version__ = "0+unknown"
