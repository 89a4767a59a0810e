"""The motivation service's use cases (today: the team directory), one function each, with the
stores passed in as a `Team` context that `motivation.bootstrap` builds."""
