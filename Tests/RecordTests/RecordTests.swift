import Testing
@testable import Record
