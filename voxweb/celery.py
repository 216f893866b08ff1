"""The Celery app: configuration comes from Django settings (CELERY_*), tasks from reimaging.tasks."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voxweb.settings")

app = Celery("voxweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
