/// Fuzzing entry point: runs `bytes` through the reader (in command, AUTHENTICATE and IDLE modes
/// as the events suggest), the parser and, for each parsed command, the response encoder. It must
/// never trap on any input; call it qualified as `IMAPProtocol.fuzz(_:)`.
///
/// Small limits are used so that the limit paths are exercised by short inputs. Returns the number
/// of events seen, so the optimiser cannot discard the work.
@discardableResult
public func fuzz(_ bytes: [UInt8]) -> Int {
    var limits = IMAPLimits()
    limits.maxLineLength = 512
    limits.maxLiteralSize = 256
    limits.maxAppendLiteralSize = 1024
    limits.maxCommandSize = 2048
    limits.maxAppendCommandSize = 4096
    limits.maxNestingDepth = 8
    limits.maxListItems = 64
    limits.maxSequenceRanges = 64
    limits.maxSectionDepth = 8
    var reader = IMAPCommandReader(limits: limits)
    let parser = IMAPCommandParser(limits: limits)
    var encoder = IMAPResponseEncoder(utf8Enabled: bytes.first.map { $0 & 1 == 1 } ?? false)
    var events = 0
    // Feed in uneven chunks to exercise chunk boundaries.
    var offset = 0
    var chunk = 1
    while offset < bytes.count {
        let end = min(bytes.count, offset + chunk)
        reader.feed(bytes[offset..<end])
        offset = end
        chunk = chunk % 7 + 1
        while let event = reader.nextEvent() {
            events += 1
            switch event {
            case .command(let frame):
                do {
                    let command = try parser.parse(frame)
                    encoder.tagged(command.tag, .ok, code: nil, "\(command.kind)".prefix(64).description)
                    switch command.kind {
                    case .authenticate: reader.mode = .authenticationResponse
                    case .idle: reader.mode = .idle
                    case .fetch(let set, _, _, _, _), .store(let set, _, _, _), .copy(let set, _, _), .move(let set, _, _):
                        if case .set(let sequenceSet) = set {
                            let resolved = sequenceSet.resolved(largest: 1000)
                            events += Int(min(resolved.count, 10))
                            _ = resolved.contains(500)
                            var iterator = resolved.makeIterator()
                            for _ in 0..<5 where iterator.next() != nil { events += 1 }
                        }
                    case .select(let name, _, _), .create(let name, _), .delete(let name):
                        _ = try? name.decoded()
                        _ = try? name.decoded(utf8Enabled: true)
                    default: break
                    }
                } catch {
                    encoder.reject(error)
                }
            case .continuationRequired:
                encoder.continuation()
            case .rejected(let tag, let rejection):
                encoder.reject(tag: tag, rejection)
            case .authenticationResponse(let line):
                if line == Array("*".utf8) || line.count > 100 { reader.mode = .command }
            case .idleDone, .idleUnexpectedLine:
                reader.mode = .command
            }
            if encoder.bytes.count > 1 << 16 { _ = encoder.takeBytes() }
        }
    }
    return events + encoder.bytes.count
}
