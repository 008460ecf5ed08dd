"""The built-in scaling algorithms, one module each; they register through ``scaling.builtin``."""
