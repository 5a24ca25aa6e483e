"""logwarden: the whole-file configuration shared by the shipper, the alerter and logq.

``logwarden.config.load_config`` reads logwarden.yaml into one ``Config``: the store's section
(from ``logstore.config``) next to each program's own (``shipper.config``, ``alerter.config``).
It lives outside the store library so that the library never imports the programs.
"""
