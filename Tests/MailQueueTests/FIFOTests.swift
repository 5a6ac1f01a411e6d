import Testing
@testable import MailQueue

struct FIFOTests {
    @Test func takesInTheOrderGiven() {
        var q = FIFO<Int>()
        #expect(q.isEmpty && q.popFirst() == nil)
        for i in 0..<5 { q.append(i) }
        #expect(q.count == 5)
        #expect(q.popFirst() == 0 && q.popFirst() == 1)
        q.append(5)
        #expect(Array(q.elements) == [2, 3, 4, 5])
        while q.popFirst() != nil {}
        #expect(q.isEmpty && q.count == 0)
    }

    @Test func anElementPutBackComesFirst() {
        var q = FIFO<String>()
        q.pushFront("a")  // into an empty list
        q.append("b")
        let first = q.popFirst()
        #expect(first == "a")
        q.pushFront("z")
        q.pushFront("y")  // before anything was taken at this point: inserted
        #expect(Array(q.elements) == ["y", "z", "b"])
    }

    /// Through the compaction of what was taken (at 64 and more), with appends and put-backs
    /// between: the same order as an Array used as a queue.
    @Test func keepsOrderThroughCompaction() {
        var q = FIFO<Int>()
        var model: [Int] = []
        var next = 0
        for round in 0..<2000 {
            for _ in 0..<(round % 3 + 1) {
                q.append(next)
                model.append(next)
                next += 1
            }
            if let x = q.popFirst() {
                #expect(x == model.removeFirst())
                if round % 7 == 0 {
                    q.pushFront(x)
                    model.insert(x, at: 0)
                }
            }
            if round % 5 == 0 { _ = q.popFirst(); model.removeFirst() }
        }
        #expect(Array(q.elements) == model)
        #expect(q.count == model.count)
    }
}
