"""voxsim: a standalone HTTP simulator of the Voxel hAPI (run with `python -m voxsim`)."""

from voxsim.catalog import CUSTOMERS, Customer

__all__ = ["CUSTOMERS", "Customer"]
