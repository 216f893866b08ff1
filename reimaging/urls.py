"""URLs of the reimaging app."""

from django.urls import path

from reimaging.views import audit, core, devices, jobs

urlpatterns = [
    path("", core.home, name="home"),
    # Devices and the inventory
    path("devices/", devices.device_list, name="device_list"),
    path("devices/<int:pk>/", devices.device_detail, name="device_detail"),
    # Jobs
    path("jobs/", jobs.job_list, name="job_list"),
    path("jobs/<int:pk>/", jobs.job_detail, name="job_detail"),
    # Audit
    path("audit/", audit.audit_list, name="audit_list"),
]
