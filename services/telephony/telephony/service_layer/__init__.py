"""The telephony service's use cases: one function each, dependencies passed in as a
`Telephony` context that `telephony.bootstrap` builds (real stores in `app.py`, in-memory fakes
in the unit tests)."""
