import XCTest
import Tensor

final class TensorTests: XCTestCase {
    func testBroadcastAdd() throws {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(vector: [10, 20, 30])
        XCTAssertEqual(try (a + b).data, [11, 22, 33, 14, 25, 36])
    }
}
