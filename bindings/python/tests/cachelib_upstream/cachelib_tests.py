"""cachelib's own CommonTests, ClearTests and HasTests (tests/ of the cachelib sdist) against
ttlkv.cachelib.TTLKVCache, set up as cachelib tests its FileSystemCache: a factory fixture over
pytest's tmpdir. `make test-python-cachelib` copies this file into the extracted tests/ as
test_ttlkv_cache.py and runs it there with cachelib's own pytest configuration (setup.cfg:
warnings are errors). Its name keeps the ttlkv suite from collecting it."""

import pytest
from clear import ClearTests
from common import CommonTests
from has import HasTests

from ttlkv.cachelib import TTLKVCache


@pytest.fixture(autouse=True)
def cache_factory(request, tmpdir):
    def _factory(self, *args, **kwargs):
        return TTLKVCache(str(tmpdir), *args, **kwargs)

    request.cls.cache_factory = _factory


class TestTTLKVCache(CommonTests, ClearTests, HasTests):
    pass


class TestTTLKVCachePrefixed(CommonTests, ClearTests, HasTests):
    @pytest.fixture(autouse=True)
    def cache_factory(self, request, tmpdir):
        def _factory(self, *args, **kwargs):
            return TTLKVCache(str(tmpdir), *args, key_prefix="prefix:", **kwargs)

        request.cls.cache_factory = _factory
