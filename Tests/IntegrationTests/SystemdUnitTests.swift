import Foundation
import Glibc
import Testing
import TestSupport

/// The units in systemd/ pass `systemd-analyze verify`: every key known, every socket with its
/// service, the templates instantiable, the commands present and executable, and (when man(1)
/// is installed) every Documentation= man page found in man/. ExecStart paths point at
/// /usr/lib/postamt, which a test machine does not have: the units are verified from a copy
/// whose paths point at the built programs instead.
@Suite(.enabled(if: SystemdTools.analyzer != nil, "systemd-analyze is not installed (apt-get install systemd)"))
struct SystemdUnitTests {

    @Test func unitsVerify() throws {
        let source = "\(TestEnvironment.packageRoot)/systemd"
        let copy = makeTemporaryDirectory(prefix: "postamt-units")
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let units = try FileManager.default.contentsOfDirectory(atPath: source)
            .filter { $0.hasSuffix(".socket") || $0.hasSuffix(".service") }.sorted()
        #expect(units.count >= 2, "no units in \(source)")
        for unit in units {
            let text = try String(contentsOfFile: "\(source)/\(unit)", encoding: .utf8)
                .replacingOccurrences(of: "/usr/lib/postamt/", with: "\(TestEnvironment.buildDirectory)/")
            try text.write(toFile: "\(copy)/\(unit)", atomically: true, encoding: .utf8)
        }
        // The programs the units start must be built.
        for unit in units where unit.hasSuffix(".service") {
            let text = try String(contentsOfFile: "\(copy)/\(unit)", encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("ExecStart=") {
                let program = line.dropFirst("ExecStart=".count).split(separator: " ").first.map(String.init) ?? ""
                #expect(FileManager.default.isExecutableFile(atPath: program), "\(unit): \(program) is not built")
            }
        }
        var environment = ProcessInfo.processInfo.environment
        environment["MANPATH"] = "\(TestEnvironment.packageRoot)/man"
        environment["SYSTEMD_LOG_COLOR"] = "0"
        let result = try run(SystemdTools.analyzer!, ["verify", "--man=\(SystemdTools.man ? "yes" : "no")"] + units.map { "\(copy)/\($0)" },
                             environment: environment)
        // verify warns about unknown keys on stderr without failing: any output is a finding.
        let output = (result.stdout + result.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(result.status == 0 && output.isEmpty, "systemd-analyze verify (status \(result.status)):\n\(output)")
    }
}

enum SystemdTools {
    static let analyzer: String? = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    static let man: Bool = ["/usr/bin/man", "/bin/man"].contains { FileManager.default.isExecutableFile(atPath: $0) }
}
