"""Tools for testing hcx from the outside: crash drivers and the checks that judge them.

Nothing in the service imports this package.
"""
