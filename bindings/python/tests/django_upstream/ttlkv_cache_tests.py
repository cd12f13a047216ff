"""Django's ``BaseCacheTests`` (tests/cache/tests.py of the Django sdist) against TTLKVCache,
set up the way Django sets up its FileBasedCacheTests: every alias of the test settings at one
temporary store directory. The ``cull`` and ``zero_cull`` aliases are left out, as Django's
memcached and redis tests leave them out, so the cull tests skip ("Culling isn't
implemented."): ttlkv bounds a store by bytes, not by an entry count (see README)."""

import shutil
import tempfile

from cache.tests import BaseCacheTests, caches_setting_for_tests  # type: ignore[import-not-found]
from django.conf import settings
from django.test import TestCase, override_settings
from django.test.signals import setting_changed


@override_settings(
    CACHES=caches_setting_for_tests(BACKEND="ttlkv.django.TTLKVCache", exclude={"cull", "zero_cull"})
)
class TTLKVCacheTests(BaseCacheTests, TestCase):  # type: ignore[misc]
    def setUp(self) -> None:
        super().setUp()
        self.dirname = tempfile.mkdtemp()
        for cache_params in settings.CACHES.values():
            cache_params["LOCATION"] = self.dirname
        setting_changed.send(self.__class__, setting="CACHES", enter=False)

    def tearDown(self) -> None:
        super().tearDown()
        shutil.rmtree(self.dirname)
