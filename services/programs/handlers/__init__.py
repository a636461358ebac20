"""Programs use cases: load, apply the domain rules, save and record events in one transaction.

Lock order, to keep concurrent commands free of deadlocks: a budget line first, then the
enrollments on it. Commands that name an enrollment look up its line, lock the line, then
re-read the enrollment under that lock.
"""
