"""Settings for Django's own cache tests run against ttlkv.django.TTLKVCache (run.py).

Like Django's tests/runtests.py with its test_sqlite settings: the ``cache`` test app of the
Django source tree (its models are used by BaseCacheTests) on an in-memory SQLite database.
"""

SECRET_KEY = "ttlkv-django-cache-tests"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "cache"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3"}}
USE_TZ = False
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
