"""The bridge from ``conf/`` to code: where the configs live, their resolvers, composing them.

The lowest layer of the package: it imports nothing else from ``attnseg``.
"""
