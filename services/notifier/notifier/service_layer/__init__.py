"""The notifier's use cases: one function each, dependencies passed in as a `Notifier` context
that `notifier.bootstrap` builds (real stores and channels in `app.py`, fakes in unit tests)."""
