"""The commands: each ``<task>(cfg)`` takes a composed config; ``main`` runs it from the command line.

``train``, ``evaluate``, ``predict``, ``export``, ``attention_maps``, ``explore``; none imports another
(shared plumbing lives in ``hydra_app``).
"""
