"""URLs of the reimaging app."""

from django.urls import path

from reimaging.views import audit, core, devices, jobs, reimage

urlpatterns = [
    path("", core.home, name="home"),
    # Devices and the inventory
    path("devices/", devices.device_list, name="device_list"),
    path("devices/<int:pk>/", devices.device_detail, name="device_detail"),
    path("devices/<int:pk>/lock/", devices.device_lock, name="device_lock"),
    path("devices/<int:pk>/unlock/", devices.device_unlock, name="device_unlock"),
    path("devices/refresh/", devices.inventory_refresh, name="inventory_refresh"),
    path("devices/sync-status/", devices.inventory_status, name="inventory_status"),
    # Reimage
    path("devices/<int:pk>/reimage/", reimage.reimage_create, name="reimage_create"),
    path("devices/<int:pk>/reimage/validate/", reimage.reimage_validate, name="reimage_validate"),
    path("devices/<int:pk>/reimage/confirm/", reimage.reimage_confirm, name="reimage_confirm"),
    # Jobs
    path("jobs/", jobs.job_list, name="job_list"),
    path("jobs/export.csv", jobs.job_export, name="job_export"),
    path("jobs/<int:pk>/", jobs.job_detail, name="job_detail"),
    path("jobs/<int:pk>/cancel/", jobs.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/retry/", jobs.job_retry, name="job_retry"),
    path("jobs/<int:pk>/credentials/", jobs.job_credentials, name="job_credentials"),
    path("jobs/<int:pk>/calls/<int:call_pk>/body/", jobs.job_call_body, name="job_call_body"),
    # Audit
    path("audit/", audit.audit_list, name="audit_list"),
    path("audit/export.csv", audit.audit_export, name="audit_export"),
]
