import Foundation
import MailSystem
@testable import Maildir

/// Puts a message into new/ the way an MDA does (write in tmp/, link into new/).
@discardableResult
func deliver(_ maildir: Maildir, _ text: String) throws -> String {
    try maildir.deliver([ArraySlice(Array(text.utf8))])
}

/// A Maildir in `dir` with `count` messages delivered ("<prefix>0\n", "<prefix>1\n", …) and a
/// mailbox on it, not synchronised yet.
func makeMailbox(in dir: TemporaryDirectory, messages count: Int, prefix: String = "m") throws -> (Maildir, MaildirMailbox) {
    let md = Maildir(path: dir.path)
    for i in 0..<count { try deliver(md, "\(prefix)\(i)\n") }
    return (md, MaildirMailbox(maildir: md))
}

func names(in dir: String) -> [String] {
    ((try? FileIO.listDirectory(dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
}

func writeFile(_ path: String, _ text: String) throws {
    try FileIO.writeAtomically(path, Array(text.utf8), mode: 0o600)
}

func readText(_ path: String) -> String? {
    (try? FileIO.readFile(path)).flatMap { $0.map { String(decoding: $0, as: UTF8.self) } }
}

func sh(_ script: String, in dir: String) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", script]
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus
}

/// The bytes behind an opened message, nil when there was none.
func contents(_ fd: consuming OwnedFD?) throws -> [UInt8]? {
    guard let fd else { return nil }
    return try FileIO.readAll(fd.raw)
}
