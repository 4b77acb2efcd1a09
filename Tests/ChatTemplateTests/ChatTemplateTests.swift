import Testing
@testable import ChatTemplate
