"""Placeholder: the Elasticsearch test rig (osmem-server + proxy) is being built here."""
