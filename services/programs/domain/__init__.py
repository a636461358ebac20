"""The rules of assistance programs, budget lines and enrollments. Pure: no I/O, no framework.

- ``programs``: what a program offers, to whom (eligibility rules as data) and for how much.
- ``budget_lines``: pagu and quota per fiscal year, mechanism and province, and their states.
- ``enrollments``: an enterprise's way through a program, from request to outcome.
- ``eligibility``: which rules an applicant fails, each as a sentence an officer can act on.
- ``cascades``: what a budget line's transitions do to the enrollments on it.
- ``replica``: the local, order-safe copy of the registry's enterprises and certificates.

Every transition is a function returning the new state and the events it causes.
"""
