"""Everything the tests share, in one package; `bench/` imports from here too, and from nowhere else in tests/.

- apps, factories, web, settings: the app under test, the objects in it, and driving it as a browser or script;
- samples, photos, faces, files, chat, authorization, axe, pages: what one feature's tests (or Chromium) need;
- processes, databases, cluster, servers/: real processes (gunicorn, PostgreSQL, Redis, moto, the local model
  servers) that the fault tests, the cluster test, `make cluster`, `make load`, `make scan` and the benchmarks start.

Nothing here imports `bench` or a test module (tests/unit/test_import_boundaries.py checks both).
"""
