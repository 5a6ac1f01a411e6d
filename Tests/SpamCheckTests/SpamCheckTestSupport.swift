import Foundation
import MailNet
@testable import SpamCheck

/// Runs a program and returns its status and output.
@discardableResult
func shell(_ path: String, _ arguments: [String], input: Data = Data(), directory: String? = nil) throws -> (status: Int32, output: Data, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
    process.standardInput = inPipe
    process.standardOutput = outPipe
    process.standardError = errPipe
    try process.run()
    let writer = Thread { try? inPipe.fileHandleForWriting.write(contentsOf: input); try? inPipe.fileHandleForWriting.close() }
    writer.start()
    var errData = Data()
    let errReader = Thread { errData = errPipe.fileHandleForReading.readDataToEndOfFile() }
    errReader.start()
    let output = outPipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while errReader.isExecuting { usleep(1000) }
    return (process.terminationStatus, output, String(decoding: errData, as: UTF8.self))
}

func temporaryDirectory() -> String {
    makeTemporaryDirectory(prefix: "postamt-spam")
}

/// Splits a TXT value into dnsmasq's comma-separated character-strings of at most 250 bytes.
func txtStrings(_ text: String) -> String {
    var parts: [String] = []
    var rest = Substring(text)
    while !rest.isEmpty { parts.append(String(rest.prefix(250))); rest = rest.dropFirst(250) }
    return parts.joined(separator: ",")
}

/// A resolver that fails every question (off-line), counting them.
final class OfflineDNS: AuthDNS {
    var questions = 0
    func txt(_ name: String) -> DNSResult<TXTRecord> { questions += 1; return .temporaryFailure("off-line") }
    func a(_ name: String) -> DNSResult<IPAddress> { questions += 1; return .temporaryFailure("off-line") }
    func aaaa(_ name: String) -> DNSResult<IPAddress> { questions += 1; return .temporaryFailure("off-line") }
    func mx(_ domain: String) -> DNSResult<MXRecord> { questions += 1; return .temporaryFailure("off-line") }
    func ptr(_ address: IPAddress) -> DNSResult<DNSName> { questions += 1; return .temporaryFailure("off-line") }
}
