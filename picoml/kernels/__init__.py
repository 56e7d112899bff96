"""NumPy reference kernels: the semantic truth every C kernel is tested against.

Importing this package registers every kernel module in :mod:`picoml.kernels.registry`.
"""
import importlib
import pkgutil

from picoml.kernels.registry import KERNELS, check_supported, get_kernel, register, supported_ops

for _m in pkgutil.iter_modules(__path__):
    if _m.name not in ("registry",):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["KERNELS", "check_supported", "get_kernel", "register", "supported_ops"]
