// The shared test helpers (Tests/TestSupport), for every file of this target.
@_exported import TestSupport
