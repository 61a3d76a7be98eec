"""The composition root: settings assembly, the daemon's wiring and lifecycle, the ``ctihub``
command. The only package that knows every other one."""
