import Testing
@testable import ModelFiles
