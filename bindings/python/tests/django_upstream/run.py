"""Runs Django's own BaseCacheTests against ttlkv.django.TTLKVCache.

    python run.py <the tests/ directory of an extracted Django sdist>

Exits non-zero when a test fails or errs, when none ran, or when a test is skipped for a
reason not listed in SKIPS_EXPECTED (the README lists them).
"""

import os
import sys
import unittest

#: Tests that cannot apply to ttlkv, by name, with the reason BaseCacheTests gives.
SKIPS_EXPECTED = {
    "test_cull": "Culling isn't implemented.",
    "test_zero_cull": "Culling isn't implemented.",
    "test_cull_delete_when_store_empty": "Culling isn't implemented.",
}


def main() -> int:
    django_tests = os.path.abspath(sys.argv[1])
    if not os.path.isfile(os.path.join(django_tests, "cache", "tests.py")):
        print(f"run.py: no cache/tests.py under {django_tests}", file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [here, django_tests]
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"

    import django
    from django.test.utils import get_runner

    django.setup()
    from django.conf import settings

    runner = get_runner(settings)(verbosity=2, interactive=False)
    runner.setup_test_environment()
    suite = runner.build_suite(["ttlkv_cache_tests"])
    old_config = runner.setup_databases()
    try:
        result = unittest.TextTestRunner(verbosity=2).run(suite)
    finally:
        runner.teardown_databases(old_config)
        runner.teardown_test_environment()
    skipped = {test.id().rsplit(".", 1)[-1]: reason for test, reason in result.skipped}
    unexpected = {name: reason for name, reason in skipped.items() if SKIPS_EXPECTED.get(name) != reason}
    print(
        f"django {django.get_version()}: {result.testsRun} tests ran, {len(result.failures)} failed, "
        f"{len(result.errors)} errors, {len(skipped)} skipped: {sorted(skipped)}"
    )
    if unexpected:
        print(f"run.py: unexpected skips {unexpected}", file=sys.stderr)
    if not result.wasSuccessful() or unexpected or result.testsRun == 0:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
