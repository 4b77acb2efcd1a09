import Testing
@testable import Plot
