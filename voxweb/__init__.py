"""voxweb: the support dashboard for reimaging VoxSERVERs."""

from voxweb.celery import app as celery_app

__all__ = ("celery_app",)
