import Testing
@testable import Sieve
