"""The leads service's use cases: one function (or one small class) each, dependencies passed
in as a `Leads` context that `leads.bootstrap` builds — with the real stores in `app.py`, with
in-memory fakes in the unit tests."""
