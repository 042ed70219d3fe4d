"""Platform adapters: each translates between one chat platform and Herald's core types.

Modules end in ``_adapter`` so they never shadow the ``discord`` or ``slack_*`` packages.
"""
